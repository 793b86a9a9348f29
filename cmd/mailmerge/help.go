package main

import (
	"embed"
	"strings"
)

// helpTexts are the long help of each command, and the exit codes, as
// `mailmerge help` prints them: prose, kept out of the code.
//
//go:embed help
var helpTexts embed.FS

// help is the text of help/name.txt.
func help(name string) string {
	b, err := helpTexts.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic(err) // embedded: a missing name is a bug
	}
	return strings.TrimSuffix(string(b), "\n")
}
