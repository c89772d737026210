package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// imageTimeout bounds one load.
const imageTimeout = 2 * time.Minute

// loadImages is `docker load -i archive`.
func loadImages(ctx context.Context, socket string, archive io.Reader) error {
	return withImageClient(ctx, socket, func(ctx context.Context, c *client.Client) error {
		r, err := c.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
		if err != nil {
			return err
		}
		defer r.Close()
		return firstStreamError(r)
	})
}

// withImageClient runs fn with a client of the daemon on socket and at
// most imageTimeout.
func withImageClient(ctx context.Context, socket string, fn func(context.Context, *client.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	c, err := dockerClient(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// firstStreamError reads the stream of JSON messages a build or a load
// answers with and returns the first error message in it, with the
// output before it.
func firstStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	var out bytes.Buffer
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		out.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, out.String())
		}
	}
}

// removeAllContainers is `docker rm -f $(docker ps -aq)`.
func removeAllContainers(ctx context.Context, socket string) error {
	c, err := dockerClient(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	done := make(chan error, len(list.Items))
	for _, ct := range list.Items {
		go func() {
			_, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				err = fmt.Errorf("remove %.12s: %w", ct.ID, err)
			} else {
				err = nil
			}
			done <- err
		}()
	}
	var errs []error
	for range list.Items {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
