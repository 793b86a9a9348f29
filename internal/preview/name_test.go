package preview

import (
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// TestEMLName: a valid address of 247 characters once made preview --out
// and --html fail with "file name too long"; names are cut, and the line
// keeps them apart.
func TestEMLName(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("д", 27) + ".example"
	for _, tt := range []struct {
		line int
		rcpt string
		want string
	}{
		{2, "ann@example.com", "0002-ann@example.com.eml"},
		{3, `a/b\c:d*e?f"g<h>i|j#k%l@x`, "0003-a_b_c_d_e_f_g_h_i_j_k_l@x.eml"},
		{12345, long, "12345-" + long[:100] + "….eml"},
		{4, strings.Repeat("д", 120) + "@x", "0004-" + strings.Repeat("д", 50) + "….eml"},
	} {
		got := FileName(&letter.Letter{Line: tt.line, Recipients: []string{tt.rcpt}})
		if got != tt.want {
			t.Errorf("FileName(%d, %q) = %q, want %q", tt.line, tt.rcpt, got, tt.want)
		}
		if len(got)+len(".html") > 255 {
			t.Errorf("FileName(%d, %q) is %d bytes", tt.line, tt.rcpt, len(got))
		}
	}
}
