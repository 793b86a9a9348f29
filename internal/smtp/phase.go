package smtp

// SMTP phases, as result records and traces name them.
const (
	PhaseConnect  = "CONNECT"
	PhaseTLS      = "TLS" // the TLS handshake, from the first byte or after STARTTLS
	PhaseGreeting = "GREETING"
	PhaseEHLO     = "EHLO"
	PhaseSTARTTLS = "STARTTLS"
	PhaseAUTH     = "AUTH"
	PhaseRSET     = "RSET"
	PhaseNOOP     = "NOOP"
	PhaseMAIL     = "MAIL"
	PhaseRCPT     = "RCPT"
	PhaseDATA     = "DATA"
	PhaseBody     = "BODY" // writing the message, before the final dot
	PhaseEOD      = "EOD"  // the reply to the final dot
	PhaseQUIT     = "QUIT"
)
