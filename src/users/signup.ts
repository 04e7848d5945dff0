import { randomUUID } from 'node:crypto'
import { newToken } from '../auth/tokens.ts'
import type { Db } from '../db/sqlite.ts'
import { EmailTakenError } from '../errors.ts'
import { MailKind } from '../jobs/handlers/mail.ts'
import type { Job, JobQueue } from '../jobs/types.ts'
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
  db: Db
  users: UsersRepository
  queue: JobQueue
  clock?: () => number
}

/**
 * Creates the user and its two mail jobs in one transaction (transactional outbox): either all three rows
 * are on disk or none is, so an accepted signup always gets its mails and a refused one never does.
 */
export function signUp(deps: SignupDeps, input: SignupInput): SignupResult {
  const id = randomUUID()
  const { token, hash } = newToken(id)
  const email = input.email.trim()
  const name = input.name?.trim() || null
  const facts: SignupFacts = { userId: id, email, name }
  const write = deps.db.transaction(() => {
    deps.users.insert({ id, email, name, tokenHash: hash, createdAt: (deps.clock ?? Date.now)() })
    return deps.queue.add([
      { kind: MailKind.welcome, ownerId: id, payload: facts },
      { kind: MailKind.adminNotice, ownerId: id, payload: facts },
    ])
  })
  try {
    return { id, token, jobs: write() }
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new EmailTakenError()
    throw err
  }
}
