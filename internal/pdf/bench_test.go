package pdf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailmerge/mailmerge/internal/testenv"
)

// BenchmarkPrint prints a one-page certificate (Cyrillic text, an
// image from its folder) with 1, 2 and 4 pages at once in one browser,
// as send does with send.concurrency sessions, and reports PDFs per
// second. The browser's start (about a second) is left out: a run pays
// it once.
//
//	go test -run '^$' -bench Print -benchtime 40x ./internal/pdf
func BenchmarkPrint(b *testing.B) {
	bin := testenv.Tool(b, "chromium", "apt-get install chromium")
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "seal.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="80" height="80"><circle cx="40" cy="40" r="38" fill="gold"/></svg>`), 0o644)
	for _, par := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			p := New(bin)
			defer p.Close()
			page := func(i int64) Page {
				return Page{Dir: dir, Name: "certificate.html", HTML: []byte(fmt.Sprintf(`<!DOCTYPE html><html><head><meta charset="utf-8">`+
					`<style>@page { size: A4 landscape } body { text-align: center }</style></head><body><img src="seal.svg">`+
					`<h1>Сертификат</h1><p>выдан</p><h2>Иван Петров %d</h2><p>за курс «Базы данных»</p></body></html>`, i))}
			}
			// Warm: the browser and a tab for each worker.
			var wg sync.WaitGroup
			for i := range par {
				wg.Go(func() {
					if _, err := p.Print(context.Background(), page(int64(i))); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			var next atomic.Int64
			b.ResetTimer()
			for range par {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if _, err := p.Print(context.Background(), page(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
		})
	}
}
