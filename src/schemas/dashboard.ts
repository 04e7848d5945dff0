import { Type } from 'typebox'
import { ASSET_NAMES } from '../dashboard/assets.ts'
import { JOB_STATUSES } from '../jobs/statuses.ts'
import { AdminJobView } from './admin.ts'
import { ErrorRef, IdParams } from './common.ts'

const hidden = { hide: true }

export const dashboardPageRouteSchema = {
  summary: 'The live dashboard (HTML): a login form without a session, a note when ADMIN_TOKEN is unset',
  ...hidden,
}

export const dashboardAssetRouteSchema = {
  ...hidden,
  params: Type.Object({ name: Type.Enum(ASSET_NAMES) }, { additionalProperties: false }),
}

export const loginRouteSchema = {
  summary: 'Dashboard: exchange the ADMIN_TOKEN for a session cookie (HttpOnly, SameSite=Strict)',
  body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
  response: { 204: Type.Null(), 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 429: ErrorRef },
}

export const logoutRouteSchema = {
  summary: 'Dashboard: end the session',
  response: { 204: Type.Null(), 403: ErrorRef },
}

export const streamRouteSchema = {
  summary: 'Dashboard: Server-Sent Events, one sample of the measurements a second (session cookie)',
  ...hidden,
}

const DashboardJobView = Type.Object(
  { ...AdminJobView.properties },
  { description: 'The admin view with every e-mail address replaced by [address]' },
)

export const dashboardJobsRouteSchema = {
  summary: 'Dashboard: jobs newest first, of one status or all (session cookie)',
  querystring: Type.Object(
    {
      status: Type.Optional(Type.Enum(JOB_STATUSES)),
      kind: Type.Optional(Type.String({ maxLength: 64 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    },
    { additionalProperties: false },
  ),
  response: { 200: Type.Object({ jobs: Type.Array(DashboardJobView) }), 400: ErrorRef, 401: ErrorRef },
}

const DashboardJobDetail = Type.Object({
  ...DashboardJobView.properties,
  retryable: Type.Boolean({ description: 'A failed job an admin retry can run again (the page offers Retry)' }),
  retryRefusal: Type.Optional(Type.String({ description: 'Why a failed job cannot succeed if run again' })),
})

export const dashboardJobRouteSchema = {
  summary: 'Dashboard: one job, and whether it can be retried (session cookie)',
  params: IdParams,
  response: { 200: DashboardJobDetail, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef },
}

export const dashboardRetryRouteSchema = {
  summary: 'Dashboard: retry a failed job, as POST /admin/jobs/:id/retry (session cookie, same Origin)',
  params: IdParams,
  response: { 202: DashboardJobView, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef },
}
