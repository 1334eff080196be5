package proxy

import (
	"context"
	"fmt"
	"sync"
)

// configFile is what the drivers that rewrite a config file (a Caddyfile,
// an nginx include) share: the file, the settings, the lock that orders
// their calls, and Current, Switch and Restore, which read the file, have
// the format rewrite it and hand the result to the format's apply.
type configFile struct {
	path   string
	bin    string
	s      settings
	mu     sync.Mutex
	format fileFormat
	// what names the file in errors ("caddyfile", "nginx include").
	what string
	// proxy and logKey head the log lines: "nginx: switched upstreams"
	// "include"=path; restored is Restore's log message.
	proxy, logKey, restored string
}

// fileFormat is one proxy's config file and how it applies it.
type fileFormat interface {
	// check refuses upstreams or settings before anything is read.
	check(ups []string) error
	read() ([]byte, error)
	upstreams(data []byte) ([]string, error)
	rewrite(old string, ups []string) (string, error)
	// apply validates, puts next in place and reloads; on failure the
	// file holds old again and the running config is unchanged.
	apply(ctx context.Context, old, next []byte) error
}

func (c *configFile) Current(ctx context.Context) ([]string, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := c.format.read()
	if err != nil {
		return nil, nil, err
	}
	ups, err := c.format.upstreams(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", c.what, c.path, err)
	}
	return ups, data, nil
}

func (c *configFile) Switch(ctx context.Context, ups []string) error {
	if err := c.format.check(ups); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, err := c.format.read()
	if err != nil {
		return err
	}
	next, err := c.format.rewrite(string(old), ups)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.what, c.path, err)
	}
	data := []byte(next)
	if c.s.render != nil {
		data = c.s.render(data)
	}
	if err := c.format.apply(ctx, old, data); err != nil {
		return err
	}
	c.s.logger.Info(c.proxy+": switched upstreams", c.logKey, c.path, "upstreams", ups)
	return nil
}

func (c *configFile) Restore(ctx context.Context, snapshot []byte) error {
	if len(snapshot) == 0 {
		return fmt.Errorf("%s %s: the snapshot to restore is empty; pass the snapshot Current returned", c.what, c.path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, err := c.format.read()
	if err != nil {
		return err
	}
	if err := c.format.apply(ctx, old, snapshot); err != nil {
		return err
	}
	c.s.logger.Info(c.proxy+": "+c.restored, c.logKey, c.path)
	return nil
}
