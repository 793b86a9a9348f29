// Package campaign joins a config, a recipient list and a letter template
// into the stream of letters a mailing consists of, one per CSV row, with
// every problem located in the file a user has to fix. It gives each
// letter its identity, plans a send against the journal, and writes
// letters out with the attachments of the run read once.
//
// # Words
//
// Each of these words has one meaning in this package:
//
//   - row: a data line of the recipient list, as read (a
//     recipients.Record, in variables rec). A row that makes no letter
//     for a problem of its own is invalid; one that Options.Select leaves
//     out is unselected.
//   - grouped: rows with the same value in the recipients.group_by
//     column are grouped: together they make one letter, to the
//     recipients of the group's first row, with every row's values.
//     Where rows are grouped, "row" stands for a group.
//   - letter: what a row makes (a letter.Letter): the template filled
//     in, not yet written out (Build does that). Its envelope is its
//     recipients (To, Cc and Bcc) as a set.
//   - record: a line of the journal (journal.Record). A letter is
//     recorded when the journal has records of it, at any destination.
//   - key: what the journal knows a letter by (letter.Key): made of the
//     campaign's name, the letter's envelope and, where rows share an
//     envelope, its row's fingerprint; or of the row's value in the
//     recipients.key column, its name. The config's names
//     (recipients.file) are settings here, though config calls them keys.
//   - fingerprint: a hash of a row's values (of all the rows of a group),
//     which tells apart rows with the same envelope (letter.Fingerprint).
//   - identity: a letter's key and the Message-ID made from it. A row's
//     letter keeps its identity across sends when rows around it change
//     (docs/journal.md, "A letter's identity"); a walk gives it only
//     after a first pass over every row's envelope.
//   - suppressed: a recipient on the recipients.suppress list is
//     suppressed: never mailed, though it stays among the letter's
//     recipients, which make its identity. A letter none of whose row's
//     own recipients is left is suppressed as a whole: it is not made.
//   - due: a recipient of a letter is due when a send must still send to
//     it at its destination (journal.Journal.Due); a letter is due when
//     any of its recipients is.
//   - settled: the journal's meaning, not due: a letter settled at a
//     destination was delivered, failed, bounced, delayed, or is of
//     unknown fate (unless unknown ones are sent again). Settled asks
//     whether the journal settles every row's letter, found from the
//     rows' fingerprints alone, so that a send has nothing to do; a test
//     send settles nothing.
//   - plan: what a send would do, found before it starts (Plan): every
//     letter made as the send makes it, but not written out, and the
//     journal asked whether it is due.
//   - walk: one pass over the rows, in CSV order (Letters, Check,
//     Envelopes).
package campaign
