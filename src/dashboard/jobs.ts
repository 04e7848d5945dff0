import { adminJobView } from '../jobs/job-view.ts'
import { listNewestJobs } from '../jobs/list.ts'
import { type RetryChecks, retryRefusal } from '../jobs/retry.ts'
import type { JobStatus } from '../jobs/statuses.ts'
import type { Job, JobStore } from '../jobs/types.ts'

// Anything shaped like an address, Message-IDs included: the page shows owner ids, never people's addresses.
// The local part takes every character signup's `format: 'email'` accepts (ajv-formats: RFC 5322's atext and
// dots), so no address a user could sign up with slips past; a domain with no dot is masked too.
const ADDRESS = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*/g

function withoutAddresses<T>(value: T): T {
  if (typeof value === 'string') return value.replace(ADDRESS, '[address]') as T
  if (Array.isArray(value)) return value.map(withoutAddresses) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutAddresses(v)])) as T
  }
  return value
}

/**
 * A job as the dashboard shows it: the admin view (owner id, the error's detail), with every e-mail address
 * taken out, wherever it hides (a welcome mail's result, an SMTP answer quoting the recipient).
 */
export function dashboardJobView(job: Job) {
  return withoutAddresses(adminJobView(job))
}

/**
 * One job as the dashboard's detail shows it: with whether Retry can be offered, and if not why (a failed job whose
 * kind says a new run cannot succeed). Only here, not in listings: the check may read the object store.
 */
export async function dashboardJobDetail(job: Job, checks: RetryChecks) {
  const refusal = job.status === 'failed' ? await retryRefusal(job, checks) : undefined
  return {
    ...dashboardJobView(job),
    retryable: job.status === 'failed' && refusal === undefined,
    ...(refusal ? { retryRefusal: withoutAddresses(refusal) } : {}),
  }
}

/** The newest jobs, of one status or of all (merged newest first), optionally of one kind. */
export async function listDashboardJobs(
  queue: JobStore,
  filter: { status?: JobStatus | undefined; kind?: string | undefined; limit: number },
) {
  return (await listNewestJobs(queue, filter)).map(dashboardJobView)
}
