package labtest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// costs are what a pool's labs of one key have cost so far, summed over
// the pool's processes: their ups, downs and resets.
type costs struct {
	Ups, Downs, Resets          int
	UpTime, DownTime, ResetTime time.Duration
}

func mean(sum time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// resetDearer says whether a reset has cost more, on average, than taking
// the lab down and bringing a new one up. Until one reset and one up are
// measured, it says no.
func (c costs) resetDearer() bool {
	if c.Resets == 0 || c.Ups == 0 {
		return false
	}
	return mean(c.ResetTime, c.Resets) > mean(c.UpTime, c.Ups)+mean(c.DownTime, c.Downs)
}

// ChooseCheaper makes this process give a lab back only when a reset of
// its topology has proved cheaper than down and up (a reset restarts
// daemons whose state it cannot otherwise undo, and reads every
// namespace back: a small lab comes up faster than that); otherwise the
// lab goes down and the next test gets a new one. Without it, every lab
// is reset and given back.
func (p *Pool) ChooseCheaper() { p.cheaper = true }

func (p *Pool) costsFile(key string) string { return filepath.Join(p.dir, "costs", key+".json") }

// readCosts reads key's costs; the caller holds the pool's lock.
func (p *Pool) readCosts(key string) (costs, error) {
	var c costs
	b, err := os.ReadFile(p.costsFile(key))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err
}

// measured adds one operation's time to key's costs. The costs only
// advise (resetPays); one that cannot be recorded leaves the choice as it
// was, so its error is dropped.
func (p *Pool) measured(key string, add func(*costs)) {
	p.locked(func() error {
		c, err := p.readCosts(key)
		if err != nil {
			return err
		}
		add(&c)
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p.costsFile(key)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p.costsFile(key), b, 0o644)
	})
}

// resetPays says whether a lab of key should be reset and given back.
func (p *Pool) resetPays(key string) bool {
	if !p.cheaper {
		return true
	}
	pays := true
	p.locked(func() error {
		c, err := p.readCosts(key)
		pays = err != nil || !c.resetDearer()
		return nil
	})
	return pays
}
