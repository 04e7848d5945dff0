import { newToken } from '../auth/tokens.ts'
import { type Database, isUniqueViolation, transact } from '../db/database.ts'
import { rowId } from '../db/row-id.ts'
import { EmailTakenError } from '../errors.ts'
import type { Job, JobStore } from '../jobs/types.ts'
import { MailKind } from '../mail/kinds.ts'
import type { SignupFacts } from '../mail/templates.ts'
import type { UsersRepository } from './repository.ts'

export interface SignupInput {
  email: string
  name?: string | undefined
}

export interface SignupResult {
  id: string
  token: string
  jobs: Job[]
}

export interface SignupDeps {
  database: Database
  users: UsersRepository
  queue: JobStore
  clock?: () => number
}

/**
 * Creates the user and its two mail jobs in one transaction (transactional outbox): either all three rows
 * are on disk or none is, so an accepted signup always gets its mails and a refused one never does.
 */
export async function signUp(deps: SignupDeps, input: SignupInput): Promise<SignupResult> {
  const id = rowId()
  const { token, hash } = newToken(id)
  const email = input.email.trim()
  const name = input.name?.trim() || null
  const facts: SignupFacts = { userId: id, email, name }
  try {
    const jobs = await transact(deps.database, async (tx) => {
      await deps.users.insert({ id, email, name, tokenHash: hash, createdAt: (deps.clock ?? Date.now)() }, tx.db)
      return deps.queue.enqueue(tx, [
        { kind: MailKind.welcome, ownerId: id, payload: facts },
        { kind: MailKind.adminNotice, ownerId: id, payload: facts },
      ])
    })
    return { id, token, jobs }
  } catch (err) {
    if (isUniqueViolation(err)) throw new EmailTakenError()
    throw err
  }
}
