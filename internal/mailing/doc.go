// Package mailing holds mailmerge's use cases: checking a mailing,
// sending it, reading what became of it (report, bounces). It is where a
// config's data turns into the things that do the work (a transport, a
// journal, a pool of sessions, a mailbox), and where the rules between
// them live: which letters a send may send today, when a journal or a
// copy of a mailing stops a send, what a run's outcome means for the one
// after.
//
// The command (cmd/mailmerge) reads flags, asks on the terminal and
// prints; it calls these functions with a typed config and options, and
// maps the *Error they return to an exit code. Lower packages never see
// this one.
//
// Words, as the code uses them:
//   - mailing: one campaign's letters to one list (config.Config);
//   - letter: what one row (or group of rows) makes, for its recipients;
//   - run: one send command; a mailing may take several runs;
//   - plan: what a run would do, found before it sends (campaign.Plan);
//   - due: a letter (or recipient) still to send;
//   - settled: a letter the journal says no run sends again (delivered,
//     refused for good, bounced, of unknown fate);
//   - destination: where letters go, as the journal names it;
//   - copy: a letter saved in the Sent folder over IMAP; a copy of a
//     mailing is the same mailing sent from another folder.
package mailing
