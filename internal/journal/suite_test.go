package journal_test

import (
	"testing"

	"github.com/mailmerge/mailmerge/internal/journal/journaltest"
)

// TestFile runs the suite every journal passes on the journal file
// (pgjournal runs it on both journals).
func TestFile(t *testing.T) { journaltest.Run(t, journaltest.File()) }
