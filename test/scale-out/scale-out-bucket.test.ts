import t from 'tap'
import { startS3rver } from '../helpers/s3.ts'
import { scaleOutScenarios } from '../helpers/scale-out.ts'

// One api and two workers, uploads and avatars in a bucket (s3rver) and no shared folder at all. With a shared
// folder: scale-out.test.ts.
scaleOutScenarios(t, 'a bucket and no shared folder', async (t) => (await startS3rver(t)).env('scale-out'))
