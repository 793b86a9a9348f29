//go:build linux

package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// The letter: a course announcement in Russian, about 2 KB on the wire,
// with five fields filled in from the row.
const letterTemplate = `From: Кафедра прикладной математики <kafedra@example.org>
To: {{.name}} <{{.email}}>
Subject: Расписание зачёта по курсу «{{.course}}», группа {{.group}}
X-Mailing: bench

Здравствуйте, {{.name}}!

Напоминаем, что зачёт по курсу «{{.course}}» для группы {{.group}}
состоится {{.date}} в аудитории 214 главного корпуса. Начало в 10:00,
продолжительность — три академических часа. Опоздавшие допускаются
только с разрешения преподавателя.

С собой необходимо иметь студенческий билет, конспект лекций и решённые
домашние задания за семестр. Пользоваться калькулятором можно, телефоном
и ноутбуком нельзя. Черновики выдаются на месте.

Если вы не можете присутствовать по уважительной причине, сообщите об
этом ответом на это письмо не позднее чем за два дня до зачёта и
приложите подтверждающий документ. Пересдача будет назначена отдельно.

Ваш номер в ведомости: {{.id}}.

Консультация перед зачётом пройдёт накануне в 16:00 в той же аудитории.
Вопросы к консультации можно присылать заранее, ответом на это письмо.

С уважением,
кафедра прикладной математики
`

var (
	surnames = []string{"Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев"}
	names    = []string{"Александр", "Мария", "Дмитрий", "Анна", "Сергей", "Елена", "Андрей", "Ольга", "Алексей", "Татьяна", "Максим", "Наталья", "Иван", "Юлия", "Артём", "Ксения"}
	courses  = []string{"Математический анализ", "Линейная алгебра", "Дискретная математика", "Теория вероятностей", "Численные методы"}
)

// writeInputs writes the letter and a class list of n rows into dir, and
// returns the CSV's path.
func writeInputs(dir string, n int) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "letter.txt"), []byte(letterTemplate), 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("class-%d.csv", n))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "name,email,course,group,date,id")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "%s %s,student%d@example.com,%s,%s-%d,%d декабря,%07d\n",
			names[i%len(names)], surnames[(i/len(names))%len(surnames)], i,
			courses[i%len(courses)], "ПМ", 100+i%40, 1+i%28, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// writeAttachments writes letter-attach.txt, the letter with two
// attachments, and the files it attaches for rows class lists: a 50 kB
// syllabus all letters share and a 2 kB grade sheet per row, of random
// bytes (base64 cannot shrink them).
func writeAttachments(dir string, rows int) error {
	letter := strings.Replace(letterTemplate, "X-Mailing: bench\n", "X-Mailing: bench\nAttachment: syllabus.pdf\nAttachment: sheets/{{.id}}.pdf\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "letter-attach.txt"), []byte(letter), 0o644); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	if err := os.WriteFile(filepath.Join(dir, "syllabus.pdf"), random(50_000), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "sheets"), 0o755); err != nil {
		return err
	}
	for i := 0; i < rows; i++ {
		if err := os.WriteFile(filepath.Join(dir, "sheets", fmt.Sprintf("%07d.pdf", i)), random(2_000), 0o644); err != nil {
			return err
		}
	}
	return nil
}
