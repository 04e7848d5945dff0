import fs from 'node:fs'
import net from 'node:net'
import autocannon from 'autocannon'
import type { User } from './phases.ts'

const fixture = (name: string) => fs.readFileSync(new URL(`../../fixtures/images/${name}`, import.meta.url))
const boundary = 'SOAKBOUNDARY'

/** The bodies of the upload mix, with the answer each should get (see the README's fixtures table). */
function uploadKinds() {
  const photo = fixture('photo-12mp.jpg')
  const form = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    fixture('alpha.png'),
    // No closing boundary: the form ends too early, 400 INVALID_MULTIPART.
  ])
  return {
    photo: { body: photo, contentType: 'image/jpeg' }, // 202, then succeeded
    truncated: { body: fixture('truncated.jpg'), contentType: 'image/jpeg' }, // 202, then failed IMAGE_UNDECODABLE
    notAnImage: { body: fixture('not-an-image.jpg'), contentType: 'image/jpeg' }, // 415
    brokenForm: { body: form, contentType: `multipart/form-data; boundary=${boundary}` }, // 400
  }
}

/**
 * One round of the mix, 20 uploads through autocannon, of which 3 bad; with the one cut short on a raw socket
 * each round, 4 bad in 21: about a fifth, enough to exercise every cleanup path each minute without crowding
 * out the good uploads whose files retention must also bound.
 */
const round = [
  ...Array<'photo'>(5).fill('photo'),
  'truncated',
  ...Array<'photo'>(6).fill('photo'),
  'notAnImage',
  ...Array<'photo'>(6).fill('photo'),
  'brokenForm',
] as const

/**
 * Sends half of a photo with a Content-Length for all of it, then closes the socket: the server must give back
 * the upload's slot, descriptor and incoming file.
 */
function uploadCutShort(target: URL, user: User, photo: Buffer) {
  const socket = net.connect(Number(target.port), target.hostname)
  socket.on('error', () => {}) // the server may reset first; either way the upload was cut
  socket.write(
    `PUT /users/${user.id}/avatar HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: Bearer ${user.token}\r\n` +
      `Content-Type: image/jpeg\r\nContent-Length: ${photo.length}\r\n\r\n`,
  )
  socket.write(photo.subarray(0, photo.length >> 1), () => socket.destroy())
}

/**
 * Avatar uploads at `perSecond` (autocannon's overallRate: a quota a second per connection) for `durationMs`, users
 * taken in turn, the mix of `round`; plus one upload cut short per round. Resolves with the answers by status.
 */
export async function uploadLoad(url: string, users: readonly User[], perSecond: number, durationMs: number) {
  const kinds = uploadKinds()
  const target = new URL(url)
  let n = 0
  const answers: Record<string, number> = {}
  const cutEvery = (round.length / perSecond) * 1000
  let cutShort = 0
  const cutter = setInterval(() => {
    uploadCutShort(target, users[cutShort++ % users.length] as User, kinds.photo.body)
  }, cutEvery)
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: Math.min(4, users.length),
        overallRate: perSecond,
        duration: durationMs / 1000,
        requests: [
          {
            method: 'PUT',
            setupRequest: (request) => {
              const user = users[n % users.length] as User
              const kind = kinds[round[n++ % round.length] as keyof typeof kinds]
              return {
                ...request,
                path: `/users/${user.id}/avatar`,
                headers: { authorization: `Bearer ${user.token}`, 'content-type': kind.contentType },
                body: kind.body,
              }
            },
          },
        ],
      },
      (err, done) => (err ? reject(err) : resolve(done)),
    )
    // Per answer, not the summary's 2xx/non2xx: the mix's 202, 400 and 415 are all the answers expected.
    instance.on('response', (_client, status) => {
      answers[status] = (answers[status] ?? 0) + 1
    })
  })
  clearInterval(cutter)
  return { answers, cutShort, errors: result.errors, timeouts: result.timeouts }
}
