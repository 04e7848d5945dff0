// The login form: the token goes in a POST body, never a URL; the answer sets an HttpOnly cookie.

const form = document.getElementById('login')
const problem = document.getElementById('login-error')

form.addEventListener('submit', async (event) => {
  event.preventDefault()
  problem.hidden = true
  const token = document.getElementById('token').value
  try {
    const res = await fetch('/dashboard/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    })
    if (res.status === 204) {
      location.reload()
      return
    }
    const body = await res.json().catch(() => ({}))
    problem.textContent = body.code === 'LOGIN_FAILED' ? 'Wrong token.' : body.message || `Refused (${res.status}).`
  } catch {
    problem.textContent = 'The service did not answer.'
  }
  problem.hidden = false
})
