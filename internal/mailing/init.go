package mailing

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// initFiles are the sample mailing that Init writes.
//
//go:embed initdata
var initFiles embed.FS

// Setup is what Init writes into the sample mailing: the sender and the
// SMTP server.
type Setup struct {
	Name, Address string
	Host          string
	Port          int
	Security      smtp.Security
	Username      string
}

// DefaultSetup is the sample mailing's setup where nobody was asked.
var DefaultSetup = Setup{Name: "Me", Address: "me@example.com", Host: "smtp.example.com", Port: 587, Security: smtp.StartTLS, Username: "me@example.com"}

// FromHeader is the From line of the sample letter.
func (s Setup) FromHeader() string {
	if address.Atoms(s.Name) {
		return s.Name + " <" + s.Address + ">"
	}
	return strconv.Quote(s.Name) + " <" + s.Address + ">"
}

// CheckInit reports the files of the sample mailing that exist in dir
// already: Init overwrites nothing.
func CheckInit(dir string) error {
	entries, err := fs.ReadDir(initFiles, "initdata")
	if err != nil {
		return err
	}
	var exist []error
	for _, e := range entries {
		name := filepath.Join(dir, strings.TrimSuffix(e.Name(), ".tmpl"))
		if _, err := os.Lstat(name); err == nil {
			exist = append(exist, fmt.Errorf("%s already exists; not overwriting", name))
		}
	}
	if len(exist) > 0 {
		return &Error{Kind: Usage, Err: errors.Join(exist...), Hint: "init writes nothing when any of its files exist; pick an empty folder"}
	}
	return nil
}

// Init writes the sample mailing, filled in with s, into dir: a config,
// a letter template and a recipients file. It calls wrote with the name
// of each file written, and never overwrites one.
func Init(dir string, s Setup, wrote func(name string)) error {
	entries, err := fs.ReadDir(initFiles, "initdata")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		data, err := initFiles.ReadFile("initdata/" + e.Name())
		if err != nil {
			return err
		}
		name := filepath.Join(dir, e.Name())
		if base, ok := strings.CutSuffix(name, ".tmpl"); ok {
			var b bytes.Buffer
			if err := template.Must(template.New(e.Name()).Parse(string(data))).Execute(&b, s); err != nil {
				return err
			}
			name, data = base, b.Bytes()
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		wrote(name)
	}
	return nil
}

// The checks of Setup's answers: each keeps a value from breaking the
// config or the letter it is written into (a quote, a {{, a # that
// starts a YAML comment).

// CheckAddress checks the sender's address.
func CheckAddress(v string) error {
	if strings.Contains(v, "{{") {
		return errors.New("no {{ in an address")
	}
	return address.One(v)
}

// CheckName checks the sender's name, as recipients see it.
func CheckName(v string) error {
	if strings.ContainsAny(v, "<>\"@") || strings.Contains(v, "{{") {
		return errors.New("a name only: no <, >, \", @ or {{")
	}
	return nil
}

// CheckHost checks the SMTP server's host name.
func CheckHost(v string) error {
	if v == "" || strings.ContainsAny(v, " /:@#") {
		return errors.New("a host name, like smtp.example.edu")
	}
	return nil
}

// CheckPort checks the SMTP server's port.
func CheckPort(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
		return errors.New("a port is a number from 1 to 65535")
	}
	return nil
}

// CheckSecurity checks the connection's security: starttls, tls or none.
func CheckSecurity(v string) error {
	var sec smtp.Security
	return sec.UnmarshalText([]byte(v))
}

// CheckUsername checks the login name at the server.
func CheckUsername(v string) error {
	if strings.ContainsAny(v, " \t#:") {
		return errors.New("a login name has no spaces and no # or : in it")
	}
	return nil
}

// SecurityFor is the security a server at port speaks most likely.
func SecurityFor(port int) smtp.Security {
	if port == 465 {
		return smtp.TLS
	}
	return smtp.StartTLS
}
