package config

import (
	"errors"
	"fmt"

	"github.com/observable-code/observable/internal/channel"
)

// finishChannels checks the channel settings at start, so that a bad one
// stops the server with what to fix rather than failing the first alert.
func (c *Config) finishChannels() error {
	switch {
	case c.SMTPURL != "" && c.SMTPFrom == "":
		return errors.New("--smtp-url needs --smtp-from, the From address of its messages (e.g. --smtp-from alerts@example.com)")
	case c.SMTPURL == "" && c.SMTPFrom != "":
		return errors.New("--smtp-from is the From address of email channels: set --smtp-url to the mail relay as well, or drop --smtp-from")
	case c.SMTPURL != "":
		// The error names what is wrong, never the URL: it may hold a password.
		if _, err := channel.ParseSMTPURL(c.SMTPURL, c.SMTPFrom); err != nil {
			return fmt.Errorf("--smtp-url or --smtp-from: %w", err)
		}
	}
	if _, err := channel.NewGuard(c.ChannelAllow); err != nil {
		return err // it names the flag and the entry
	}
	if c.KeyFile == "" && !c.IsPostgres() {
		// Beside the database, and like it never in a dump of it: a copy of
		// the database alone does not open the secrets (docs/channels.md).
		c.KeyFile = c.Database + ".key"
	}
	return nil
}
