import { Type } from 'typebox'
import { ErrorRef } from './common.ts'

const Ok = Type.Object({ status: Type.Literal('ok') })

export const healthzRouteSchema = { summary: 'Liveness: the process answers', response: { 200: Ok } }
export const readyzRouteSchema = {
  summary: 'Readiness: the database (and Redis, with QUEUE=bullmq) answer and the job runner is running',
  response: { 200: Ok, 503: ErrorRef },
}
