package testpg_test

import (
	"context"
	"testing"

	"github.com/mailmerge/mailmerge/internal/testpg"
)

// TestStart starts a cluster and asks it something: a loopback
// connection with the password works.
func TestStart(t *testing.T) {
	s := testpg.Start(t)
	conn, err := s.Connect(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT 6 * 7").Scan(&n); err != nil || n != 42 {
		t.Fatalf("SELECT 6 * 7 = %d, %v", n, err)
	}
}
