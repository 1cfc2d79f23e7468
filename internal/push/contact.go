package push

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckContact is the one check of a VAPID contact (the "sub" claim), for
// the flag and for New alike: push services (Apple's among them) accept only
// a mailto: or https:// URI.
func CheckContact(contact string) error {
	if !strings.HasPrefix(contact, "mailto:") && !strings.HasPrefix(contact, "https://") {
		return fmt.Errorf("%q: push services (Apple's among them) accept only a mailto: or https:// contact, such as mailto:ops@example.org", contact)
	}
	return nil
}

// placeholderContact reports a contact that passes CheckContact but that no
// one reads, which Apple's push service may refuse.
func placeholderContact(contact string) bool {
	u, err := url.Parse(contact)
	if err != nil {
		return true
	}
	host := u.Host
	if u.Scheme == "mailto" {
		_, host, _ = strings.Cut(u.Opaque, "@")
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".localhost") || host == "example.com"
}
