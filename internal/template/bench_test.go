package template

import (
	"os"
	"testing"

	"github.com/mailmerge/mailmerge/internal/message"
)

var benchCases = []struct {
	name, file string
	row        map[string]string
}{
	{"plain", "notice.tmpl", map[string]string{"name": "Jane Doe", "email": "jane@example.com", "date": "1 December"}},
	{"russian", "course.tmpl", map[string]string{"name": "Александр Иванов", "email": "student0@example.com", "course": "Математический анализ", "group": "ПМ-100", "date": "1 декабря", "id": "0000000"}},
	{"markdown+attachments", "announcement.tmpl", map[string]string{"name": "Иван Петров", "email": "ivan@example.com", "surname": "Иванов", "grade": "отлично"}},
}

// BenchmarkRender measures letters per second and allocations per letter,
// from a row to the bytes a send writes (Execute, Identify, message.Build),
// for a plain ASCII notice, the Russian letter of bench/ (~2 KB), and for a Cyrillic Markdown letter with two
// attachments.
func BenchmarkRender(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			tm := benchTemplate(b, c.file)
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

// BenchmarkExecute measures what the check before a send does per row:
// the template filled in and checked, attachments found, nothing encoded.
func BenchmarkExecute(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			tm := benchTemplate(b, c.file)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tm.Execute(Row{Line: 2, Values: c.row}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
		})
	}
}

func benchTemplate(b *testing.B, file string) *testTemplate {
	src, err := os.ReadFile("testdata/" + file)
	if err != nil {
		b.Fatal(err)
	}
	o := testOptions()
	o.Campaign = "bench"
	o.msg = message.Options{} // the clock and random boundaries, as in a send
	tm, err := o.parse(file, src)
	if err != nil {
		b.Fatal(err)
	}
	return tm
}
