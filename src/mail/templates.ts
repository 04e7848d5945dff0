export interface RenderedMail {
  subject: string
  text: string
  html: string
}

/** What a signup mail is made from (the payload of its jobs: mail/kinds.ts). */
export interface SignupFacts {
  userId: string
  email: string
  name: string | null
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)

/** The welcome mail sent to a new user. */
export function welcomeMail(user: SignupFacts): RenderedMail {
  const who = user.name ?? user.email
  return {
    subject: 'Welcome to deckhand',
    text: `Hello ${who},\n\nyour account is ready. Your user id is ${user.userId}.\n\n— deckhand\n`,
    html: `<p>Hello ${escapeHtml(who)},</p><p>your account is ready. Your user id is <code>${user.userId}</code>.</p><p>— deckhand</p>`,
  }
}

/** The notice sent to ADMIN_EMAIL for every signup. */
export function adminSignupNotice(user: SignupFacts): RenderedMail {
  const name = user.name ?? '(no name)'
  return {
    subject: `New signup: ${user.email}`,
    text: `A user signed up.\n\nid: ${user.userId}\ne-mail: ${user.email}\nname: ${name}\n`,
    html: `<p>A user signed up.</p><ul><li>id: <code>${user.userId}</code></li><li>e-mail: ${escapeHtml(user.email)}</li><li>name: ${escapeHtml(name)}</li></ul>`,
  }
}
