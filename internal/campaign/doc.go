// Package campaign joins a config, a recipient list and a letter template
// into the stream of letters a mailing consists of, one per CSV row, with
// every problem located in the file a user has to fix. It gives each
// letter its identity, plans a send against the journal, and writes
// letters out with the attachments of the run read once.
package campaign
