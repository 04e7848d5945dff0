import { derivedToken, newToken } from '../auth/tokens.ts'
import { type Database, isUniqueViolation, type Transaction, transact } from '../db/database.ts'
import { rowId } from '../db/row-id.ts'
import { EmailTakenError } from '../errors.ts'
import { requestFingerprint } from '../idempotency/fingerprint.ts'
import type { IdempotencyGuard } from '../idempotency/guard.ts'
import type { JobStore } from '../jobs/types.ts'
import { adminNoticeMailJob, welcomeMailJob } from '../mail/kinds.ts'
import type { SignupFacts } from '../mail/templates.ts'
import { randomBase64url } from '../random-pool.ts'
import type { UsersRepository } from './repository.ts'

export interface SignupInput {
  email: string
  name?: string | undefined
}

export interface SignupResult {
  id: string
  token: string
  jobs: { id: string; kind: string }[]
  /** A retry's answer: the first signup's user, token and jobs again, nothing created. */
  replayed?: boolean
}

export interface SignupDeps {
  database: Database
  users: UsersRepository
  queue: JobStore
  idempotency: IdempotencyGuard
  clock?: () => number
}

/** What a keyed signup keeps for its retries: everything of its answer but the token. */
interface KeptSignup {
  id: string
  jobs: { id: string; kind: string }[]
}

/** Signups have no user yet to scope their keys to: one scope for all. */
const SIGNUP_SCOPE = 'signup'

/**
 * Creates the user and its two mail jobs in one transaction (transactional outbox): either all three rows
 * are on disk or none is, so an accepted signup always gets its mails and a refused one never does.
 */
export async function signUp(deps: SignupDeps, input: SignupInput): Promise<SignupResult> {
  const id = rowId()
  const { token, hash } = newToken(id)
  try {
    const jobs = await transact(deps.database, (tx) => createUser(deps, tx, id, hash, input))
    return { id, token, jobs }
  } catch (err) {
    if (isUniqueViolation(err)) throw new EmailTakenError()
    throw err
  }
}

/**
 * signUp() made safe to retry by an Idempotency-Key: the first request's answer is kept in the same transaction
 * as the user, and a retry of it within the TTL gets the same user, jobs and a working token (derived again from
 * the key, never stored) instead of EMAIL_TAKEN.
 */
export async function signUpOnce(deps: SignupDeps, input: SignupInput, key: string): Promise<SignupResult> {
  const call = deps.idempotency.begin(SIGNUP_SCOPE, key)
  try {
    const body = JSON.stringify([input.email, input.name ?? null])
    const fingerprint = requestFingerprint({ method: 'POST', route: '/signup', owner: '', body })
    const { result, replayed } = await deps.idempotency.run(call, fingerprint, {
      replay(answer) {
        const kept = answer.body as KeptSignup
        return { ...kept, token: derivedToken(kept.id, key, answer.tokenSalt as string).token }
      },
      async perform(record) {
        const id = rowId()
        const tokenSalt = randomBase64url(16)
        const { token, hash } = derivedToken(id, key, tokenSalt)
        const jobs = await transact(deps.database, async (tx) => {
          const jobs = await createUser(deps, tx, id, hash, input)
          await record(tx, { status: 201, body: { id, jobs } satisfies KeptSignup, tokenSalt })
          return jobs
        })
        return { id, token, jobs }
      },
    })
    return { ...result, replayed }
  } catch (err) {
    if (isUniqueViolation(err)) throw new EmailTakenError()
    throw err
  } finally {
    call.release()
  }
}

async function createUser(deps: SignupDeps, tx: Transaction, id: string, tokenHash: Buffer, input: SignupInput) {
  const email = input.email.trim()
  const name = input.name?.trim() || null
  const facts: SignupFacts = { userId: id, email, name }
  deps.users.insert({ id, email, name, tokenHash, createdAt: (deps.clock ?? Date.now)() }, tx)
  const jobs = await deps.queue.enqueue(tx, [welcomeMailJob.job(id, facts), adminNoticeMailJob.job(id, facts)])
  return jobs.map((j) => ({ id: j.id, kind: j.kind }))
}
