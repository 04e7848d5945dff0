/** The job kinds of the signup mails, run in the mail lane; producers (the signup) name them from here. */
export const MailKind = { welcome: 'mail.welcome', adminNotice: 'mail.admin-notice' } as const
