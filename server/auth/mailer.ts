import nodemailer from 'nodemailer';
import type { Logger } from 'pino';

/** Sends sign-in mails. */
export interface Mailer {
  /** Sends `text` to `to` with `subject`. @throws the SMTP error when the server refuses it */
  send(to: string, subject: string, text: string): Promise<void>;
}

/**
 * The mailer from configuration: SMTP through nodemailer when `smtpUrl` is set
 * (`smtp://user:pass@host:port`, or `smtps://` for TLS), else one that writes
 * the mail (with its sign-in link) to the server log at info level, for
 * development and single-person setups.
 */
export function createMailer(smtpUrl: string | null, from: string, log: Logger): Mailer {
  if (!smtpUrl) {
    return {
      async send(to, subject, text) {
        log.info({ to, subject, text }, 'SMTP_URL is not set: this mail was not sent; the sign-in link is in it');
      },
    };
  }
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    async send(to, subject, text) {
      // The address as an object: nodemailer does not parse it as a list or a display name.
      await transport.sendMail({ from, to: { name: '', address: to }, subject, text });
    },
  };
}
