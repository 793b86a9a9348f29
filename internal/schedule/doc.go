// Package schedule reads the times a mailing is sent at, as people write
// them: a row's recipients.send_after cell (2026-12-08 09:00, 08.12.2026,
// RFC 3339) and the start of a send (send --at 09:00).
//
// A time without an offset is a wall-clock time in the location the
// caller gives (the user's, from the send's clock): a list says "9
// o'clock" where its readers live.
package schedule
