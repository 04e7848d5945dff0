import { Type } from 'typebox'
import { EXPECTED } from '../validation-messages.ts'
import { ErrorRef } from './common.ts'

export const metricsRouteSchema = {
  summary: 'Prometheus metrics; with METRICS_TOKEN set, only for "Authorization: Bearer <METRICS_TOKEN>"',
  querystring: Type.Object(
    {
      name: Type.Optional(
        Type.Array(
          Type.String({
            pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$',
            [EXPECTED]: 'a Prometheus metric name',
            maxLength: 200,
          }),
          {
            maxItems: 50,
            description:
              'Only these metric families (repeat the parameter); names that match none are left out. A scrape that ' +
              'leaves out nodejs_eventloop_lag_seconds does not restart the interval of nodejs_eventloop_lag_p99_seconds ' +
              'and its siblings.',
          },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  response: { 400: ErrorRef, 401: ErrorRef },
}
