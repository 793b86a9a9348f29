package attachment

import (
	"os"
	"sync"
	"testing"
)

// CountOpens counts, until the test ends, every file this package opens,
// by path.
func CountOpens(t testing.TB) func() map[string]int {
	var mu sync.Mutex
	opens := map[string]int{}
	open = func(name string) (*os.File, error) {
		mu.Lock()
		opens[name]++
		mu.Unlock()
		return os.Open(name)
	}
	t.Cleanup(func() { open = os.Open })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int, len(opens))
		for k, v := range opens {
			out[k] = v
		}
		return out
	}
}
