// Package sender delivers rendered letters: a bounded pool of workers,
// each owning one session of a Transport (an SMTP connection, or a Maildir
// folder), a shared rate limit, retries of temporary failures, and one
// journal record per state change of every letter.
//
// Outcomes follow the reply codes of RFC 5321 and the enhanced status
// codes of RFC 3463 (see Classify): a 2xx after the final dot is
// delivered; 4xx, 421 and network errors before the final dot are
// temporary and retried; 5xx on RCPT or DATA fails that letter only; a
// lost connection after the final dot is unknown and never resent
// automatically, since the letter may have been delivered. A provider's
// reply about the account, whatever its code (smtp.Recognize), is never
// the letter's failure: a quota or rate reached, or a login refused,
// stops dispatching at once and leaves the letter due for a later run; a
// server that wants fewer sessions at once gets them.
package sender
