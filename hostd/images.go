package hostd

import (
	"sync"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/proc"
	"github.com/nslab/nslab/hostdconfig"
)

// openImages opens the machine's image store and this host's repository
// in its data root. A host's first start gives it the configuration's
// images; without any, hostd adds the default image to the store itself.
func openImages(cfg hostdconfig.Config, rp *proc.Reaper) (*image.Store, *image.Repository, error) {
	// `nslab images clean` waits until the repository names what this
	// host needs of the store.
	store, release, err := image.OpenShared(cfg.ImageStore)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	var initial []image.Loaded
	for _, img := range cfg.Images {
		initial = append(initial, image.Loaded{ID: img.ID, Tags: img.Tags})
	}
	if len(initial) == 0 {
		def, err := store.EnsureDefault(image.DefaultSource{Output: rp.Output})
		if err != nil {
			return nil, nil, err
		}
		initial = []image.Loaded{def}
	}
	repo, err := image.OpenRepository(store, image.RepositoryFile(cfg.DataRoot), initial)
	if err != nil {
		return nil, nil, err
	}
	return store, repo, nil
}

// openImagesMeanwhile runs openImages in the background; the function it
// returns waits for its results, as often as it is called.
func openImagesMeanwhile(cfg hostdconfig.Config, rp *proc.Reaper) func() (*image.Store, *image.Repository, error) {
	type opened struct {
		store *image.Store
		repo  *image.Repository
		err   error
	}
	ch := make(chan opened, 1)
	go func() {
		store, repo, err := openImages(cfg, rp)
		ch <- opened{store, repo, err}
	}()
	var (
		once sync.Once
		o    opened
	)
	return func() (*image.Store, *image.Repository, error) {
		once.Do(func() { o = <-ch })
		return o.store, o.repo, o.err
	}
}

// ImageUsers says which containers were created from the image id: docker
// rmi refuses to delete it under them.
func (d *Daemon) ImageUsers(id string) (running, stopped string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.containers {
		if c.image == nil || c.image.ID != id {
			continue
		}
		if c.state == StateRunning {
			running = c.ID
		} else if stopped == "" {
			stopped = c.ID
		}
	}
	return running, stopped
}

// ReleaseImages lets the repository forget deleted images no container
// uses any more, so that their layers may leave the store.
func (d *Daemon) ReleaseImages() {
	if err := d.images.Release(d); err != nil {
		d.log.Printf("images: %v", err)
	}
}

// ImageDeleteEvents logs what a delete did as dockerd does: an untag for
// each reference taken off the image, a delete for each image removed,
// both named by the image id; the untags with the image's labels (a
// deleted image has none left to read).
func (d *Daemon) ImageDeleteEvents(img *image.Image, records []image.DeleteRecord) {
	for _, rec := range records {
		switch {
		case rec.Untagged != "" && img != nil:
			d.ImageEvent(img.ID, img.ID, "untag", img.Config.RunConfig().Labels)
		case rec.Deleted != "":
			d.ImageEvent(rec.Deleted, rec.Deleted, "delete", nil)
		}
	}
}
