package sandbox

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/epcflow/epcflow/sandbox/inbankemu"
)

func (c Config) withDefaults() (Config, error) {
	c.PartnerURL = cmp.Or(c.PartnerURL, DefaultPartnerURL)
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.ClientSecret = cmp.Or(c.ClientSecret, DefaultClientSecret)
	c.SigningKey = cmp.Or(c.SigningKey, DefaultSigningKey)
	c.TokenLifetime = cmp.Or(c.TokenLifetime, DefaultTokenLifetime)
	c.WebhookRetryInterval = cmp.Or(c.WebhookRetryInterval, DefaultWebhookRetryInterval)
	c.WebhookTries = cmp.Or(c.WebhookTries, DefaultWebhookTries)
	c.WebhookTimeout = cmp.Or(c.WebhookTimeout, DefaultWebhookTimeout)
	c.WebhookWorkers = cmp.Or(c.WebhookWorkers, DefaultWebhookWorkers)
	c.StateSaveInterval = cmp.Or(c.StateSaveInterval, DefaultStateSaveInterval)
	var problems []string
	if err := checkBaseURL(c.PartnerURL); err != nil {
		problems = append(problems, "PartnerURL: "+err.Error())
	}
	for i, u := range c.PartnerURLs {
		if err := checkBaseURL(u); err != nil {
			problems = append(problems, fmt.Sprintf("PartnerURLs[%d]: %s", i, err))
		}
	}
	if c.PublicURL != "" {
		if err := checkBaseURL(c.PublicURL); err != nil {
			problems = append(problems, "PublicURL: "+err.Error())
		}
	}
	for _, d := range []struct {
		name     string
		negative bool
	}{
		{"TokenLifetime", c.TokenLifetime < 0},
		{"WebhookRetryInterval", c.WebhookRetryInterval < 0},
		{"WebhookTries", c.WebhookTries < 0},
		{"WebhookTimeout", c.WebhookTimeout < 0},
		{"WebhookWorkers", c.WebhookWorkers < 0},
		{"StateSaveInterval", c.StateSaveInterval < 0},
	} {
		if d.negative {
			problems = append(problems, d.name+": must not be negative")
		}
	}
	shops, shopProblems := inbankemu.CheckShops("InbankShops", c.InbankShops)
	c.InbankShops = shops
	problems = append(problems, shopProblems...)
	if len(problems) > 0 {
		return c, fmt.Errorf("sandbox: invalid config: %s", strings.Join(problems, "; "))
	}
	c.PartnerURL = strings.TrimRight(c.PartnerURL, "/")
	urls := make([]string, 0, len(c.PartnerURLs))
	for _, u := range c.PartnerURLs {
		urls = append(urls, strings.TrimRight(u, "/"))
	}
	c.PartnerURLs = urls
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c, nil
}

// checkBaseURL accepts an absolute http(s) URL; its errors never echo the value.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "":
		return errors.New("host required")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not contain a query or fragment")
	}
	return nil
}
