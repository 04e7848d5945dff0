import t from 'tap'
import { tempDataDir } from '../helpers/app.ts'
import { scaleOutScenarios } from '../helpers/scale-out.ts'

// One api and two workers, uploads and avatars in one shared STORAGE_DIR. With a bucket: scale-out-bucket.test.ts.
scaleOutScenarios(t, 'a shared folder', async (t) => ({ STORAGE_DIR: tempDataDir(t) }))
