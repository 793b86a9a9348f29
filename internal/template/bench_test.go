package template

import (
	"testing"
)

// BenchmarkRender measures letters per second and allocations per letter
// for a plain ASCII notice and for a Cyrillic Markdown letter with two
// attachments.
func BenchmarkRender(b *testing.B) {
	cases := []struct {
		name, file string
		row        map[string]string
	}{
		{"plain", "notice.tmpl", map[string]string{"name": "Jane Doe", "email": "jane@example.com", "date": "1 December"}},
		{"markdown+attachments", "announcement.tmpl", map[string]string{"name": "Иван Петров", "email": "ivan@example.com", "surname": "Иванов", "grade": "отлично"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tm, err := ParseFile("testdata/"+c.file, Options{Campaign: "bench", AttachmentsDir: "testdata/attach"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var size int
			for b.Loop() {
				l, err := tm.Render(Row{Line: 2, Values: c.row})
				if err != nil {
					b.Fatal(err)
				}
				size = len(l.Data)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
			b.ReportMetric(float64(size), "bytes/letter")
		})
	}
}
