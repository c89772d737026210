package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/lab"
)

func newImagesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Show the machine's image store: images, layers and the labs that use them",
		Long: `Show the machine's image store (` + image.DefaultStore + `, or $` + image.StoreEnv + `): every
image with its layers and the hosts of the labs that have it, then every
layer with its size. Layers are unpacked once per machine and shared by
every lab; each host keeps only its own list of images and tags.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.images() },
	}
	var all bool
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Remove the images and layers no lab uses",
		Long: `Remove from the machine's image store every image no host of a lab has, and
every layer no remaining image needs. With --all, and no lab at all on the
machine, remove the whole store; the next ` + "`nslab up`" + ` builds the default
image again.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.cleanImages(all) },
	}
	clean.Flags().BoolVar(&all, "all", false, "remove the whole store (only when no lab exists)")
	cmd.AddCommand(clean)
	return cmd
}

func (a *app) images() error {
	store, err := image.OpenStore(image.StoreDir())
	if err != nil {
		return err
	}
	layers, images, err := store.Contents()
	if err != nil {
		return err
	}
	use, err := lab.ImageUse(a.root, store.Dir())
	if err != nil {
		return err
	}
	return writeStore(a.stdout, store.Dir(), layers, images, use)
}

func writeStore(w io.Writer, dir string, layers []image.LayerInfo, images []image.StoredImage, use map[string][]string) error {
	size := map[string]int64{}
	var total int64
	for _, l := range layers {
		size[l.DiffID] = l.Size
		total += l.TarSize
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE ID\tCREATED\tLAYERS\tSIZE\tUSED BY")
	for _, img := range images {
		var n int64
		for _, d := range img.DiffIDs {
			n += size[d]
		}
		users := use[img.ID]
		sort.Strings(users)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", image.ShortID(img.ID), img.Created.Format("2006-01-02"), len(img.DiffIDs), humanSize(n), dash(strings.Join(users, " ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER (DIFF ID)\tSIZE\tTAR")
	for _, l := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", image.ShortID(l.DiffID), humanSize(l.Size), humanSize(l.TarSize))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s: %d images, %d layers, %s of layer tars (the unpacked trees take as much again)\n", dir, len(images), len(layers), humanSize(total))
	return err
}

// cleanImages removes what no lab uses; it waits for the labs being built
// and the loads under way, which hold the store's lock.
func (a *app) cleanImages(all bool) error {
	store, err := image.OpenStore(image.StoreDir())
	if err != nil {
		return err
	}
	unlock, err := store.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	keep := map[string]bool{}
	if all {
		dirs, err := lab.LabDataDirs(a.root)
		if err != nil {
			return err
		}
		labs, err := lab.List(a.root)
		if err != nil {
			return err
		}
		if len(dirs) > 0 || len(labs) > 0 {
			var ids []string
			for _, s := range labs {
				ids = append(ids, s.ID)
			}
			return fmt.Errorf("images clean --all: labs exist (%s; data directories: %s); take them down (nslab down, nslab gc) first",
				dash(strings.Join(ids, " ")), dash(strings.Join(dirs, " ")))
		}
	} else {
		use, err := lab.ImageUse(a.root, store.Dir())
		if err != nil {
			return err
		}
		for id := range use {
			keep[id] = true
		}
	}
	images, layers, err := store.Prune(keep)
	var freed int64
	for _, l := range layers {
		freed += l.TarSize + l.Size
	}
	fmt.Fprintf(a.stdout, "removed %d images and %d layers (about %s)\n", len(images), len(layers), humanSize(freed))
	return err
}

// humanSize is a size as docker images prints it.
func humanSize(n int64) string { return image.HumanSize(n, 3) }
