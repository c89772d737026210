package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/events"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/hostd/image"
)

// ImageSummary is one entry of GET /images/json (keys in Docker's order).
type ImageSummary struct {
	Containers  int64
	Created     int64
	ID          string `json:"Id"`
	Labels      map[string]string
	ParentID    string `json:"ParentId"`
	RepoDigests []string
	RepoTags    []string
	SharedSize  int64
	Size        int64
	VirtualSize int64
}

// ImageInspect is GET /images/{name}/json.
type ImageInspect struct {
	ID              string `json:"Id"`
	RepoTags        []string
	RepoDigests     []string
	Parent          string
	Comment         string
	Created         string
	Container       string
	ContainerConfig *image.ContainerConfig
	DockerVersion   string
	Author          string
	Config          *image.ContainerConfig
	Architecture    string
	Variant         string `json:",omitempty"`
	Os              string
	OsVersion       string `json:",omitempty"`
	Size            int64
	VirtualSize     int64
	GraphDriver     types.GraphDriver
	RootFS          struct {
		Type   string
		Layers []string `json:",omitempty"`
	}
	Metadata struct {
		LastTagTime time.Time
	}
}

// HistoryItem is one entry of GET /images/{name}/history.
type HistoryItem struct {
	Comment   string
	Created   int64
	CreatedBy string
	ID        string `json:"Id"`
	Size      int64
	Tags      []string
}

func (s *server) imageRoutes() {
	s.handle("GET /images/json", s.imageList)
	s.handle("GET /images/get", s.imageSave)
	s.handle("GET /images/{rest...}", s.imageGet)
	s.handle("POST /images/load", s.imageLoad)
	s.handle("POST /images/create", s.imageCreate)
	s.handle("POST /images/prune", s.imagePrune)
	s.handle("POST /images/{rest...}", s.imagePost)
	s.handle("DELETE /images/{rest...}", s.imageDelete)
}

// imageName cuts a route's name out of /images/NAME/ACTION: names hold
// slashes ("team/app:1").
func imageName(r *http.Request, action string) (string, bool) {
	return strings.CutSuffix(r.PathValue("rest"), "/"+action)
}

// imageGet serves inspect, history and the save of one image.
func (s *server) imageGet(w http.ResponseWriter, r *http.Request) error {
	if name, ok := imageName(r, "json"); ok {
		return s.imageInspect(w, name)
	}
	if name, ok := imageName(r, "history"); ok {
		return s.imageHistory(w, name)
	}
	if name, ok := imageName(r, "get"); ok {
		return s.saveImages(w, []string{name})
	}
	return errdefs.NotFound("page not found")
}

// imagePost serves tag and push.
func (s *server) imagePost(w http.ResponseWriter, r *http.Request) error {
	if name, ok := imageName(r, "tag"); ok {
		tagged, err := s.d.Images().Tag(name, r.FormValue("repo"), r.FormValue("tag"))
		if err != nil {
			return err
		}
		if img, err := s.d.Images().Resolve(tagged); err == nil {
			s.d.ImageEvent(img.ID, tagged, "tag", img.Config.RunConfig().Labels)
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	if name, ok := imageName(r, "push"); ok {
		return s.imagePush(w, r, name)
	}
	return errdefs.NotFound("page not found")
}

// imageFilterKeys are the filters docker images accepts.
var imageFilterKeys = []string{"dangling", "label", "before", "since", "reference"}

// danglingOnly reads the dangling filter: only "true" or "false".
func danglingOnly(f filters.Args) (bool, error) {
	if !f.Has("dangling") {
		return false, nil
	}
	switch v := f.Values("dangling"); {
	case len(v) == 1 && v[0] == "true":
		return true, nil
	case len(v) == 1 && v[0] == "false":
		return false, nil
	default:
		return false, errdefs.BadRequest("Invalid filter 'dangling=[%s]'", strings.Join(v, " "))
	}
}

func (s *server) imageList(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.ParseAs(r.FormValue("filters"), "Invalid filter '%s'", imageFilterKeys...)
	if err != nil {
		return err
	}
	dangling, err := danglingOnly(f)
	if err != nil {
		return err
	}
	var before, since *image.Image
	for _, v := range f.Values("before") {
		if before, err = s.d.Images().Resolve(v); err != nil {
			return err
		}
	}
	for _, v := range f.Values("since") {
		if since, err = s.d.Images().Resolve(v); err != nil {
			return err
		}
	}
	out := []ImageSummary{}
	for _, e := range s.d.Images().List() {
		c := e.Image.Config
		switch {
		case before != nil && !c.Created.Before(before.Config.Created),
			since != nil && !c.Created.After(since.Config.Created),
			f.Has("label") && (c.Config == nil || !f.MatchLabels(c.Config.Labels)),
			dangling && len(e.Tags) > 0:
			continue
		}
		sum, keep, err := imageSummary(e, f)
		if err != nil {
			return err
		}
		if keep {
			out = append(out, sum)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return writeJSON(w, http.StatusOK, out)
}

// imageSummary is one image as docker images lists it: only the tags the
// reference filter matches, and an untagged image as <none>:<none> unless
// a filter on references or dangling=false leaves it out.
func imageSummary(e image.Entry, f filters.Args) (ImageSummary, bool, error) {
	img := e.Image
	sum := ImageSummary{Containers: -1, Created: img.Config.Created.Unix(), ID: img.ID, SharedSize: -1, Size: img.Size, VirtualSize: img.Size}
	if img.Config.Config != nil {
		sum.Labels = img.Config.Config.Labels
	}
	for _, t := range e.Tags {
		if f.Has("reference") {
			found := false
			for _, p := range f.Values("reference") {
				ok, err := image.MatchReference(p, t)
				if err != nil {
					return sum, false, errdefs.Errorf(500, "%s", err.Error())
				}
				found = found || ok
			}
			if !found {
				continue
			}
		}
		sum.RepoTags = append(sum.RepoTags, t)
	}
	if sum.RepoTags == nil {
		// dangling=false and a reference filter leave untagged images out.
		if (f.Has("dangling") && !f["dangling"]["true"]) || f.Has("reference") {
			return sum, false, nil
		}
		sum.RepoTags, sum.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
	}
	return sum, true, nil
}

func (s *server) imageInspect(w http.ResponseWriter, name string) error {
	e, err := s.d.Images().Lookup(name)
	if err != nil {
		return fmt.Errorf("no such image: %s: %w", name, err)
	}
	img := e.Image
	c := img.Config
	j := ImageInspect{
		ID: img.ID, RepoTags: append([]string{}, e.Tags...), RepoDigests: []string{},
		Parent: c.Parent, Comment: c.Comment, Created: c.Created.Format(time.RFC3339Nano),
		Container: c.Container, ContainerConfig: &c.ContainerConfig, DockerVersion: c.DockerVersion,
		Author: c.Author, Config: c.Config, Architecture: c.Architecture, Variant: c.Variant,
		Os: c.OS, OsVersion: c.OSVersion, Size: img.Size, VirtualSize: img.Size,
		GraphDriver: imageGraphDriver(img),
	}
	if j.Comment == "" && len(c.History) > 0 {
		j.Comment = c.History[len(c.History)-1].Comment
	}
	if j.Os == "" {
		j.Os = "linux"
	}
	j.RootFS.Type = c.RootFS.Type
	j.RootFS.Layers = c.RootFS.DiffIDs
	j.Metadata.LastTagTime = e.LastTagTime
	return writeJSON(w, http.StatusOK, j)
}

// imageGraphDriver shows where the image's layers are: the top one as
// UpperDir, those below as LowerDir (top-most first), as overlayfs stacks
// them.
func imageGraphDriver(img *image.Image) types.GraphDriver {
	gd := types.GraphDriver{Name: "nslab", Data: map[string]string{}}
	n := len(img.Layers)
	if n == 0 {
		gd.Data = nil
		return gd
	}
	gd.Data["UpperDir"] = img.Layers[n-1]
	var lower []string
	for i := n - 2; i >= 0; i-- {
		lower = append(lower, img.Layers[i])
	}
	if len(lower) > 0 {
		gd.Data["LowerDir"] = strings.Join(lower, ":")
	}
	return gd
}

// imageHistory is Docker's ImageHistory: the image's history newest first,
// each step that made a layer with that layer's size; the newest carries
// the image's ID and tags, the older ones "<missing>" (a loaded image has
// no parent images).
func (s *server) imageHistory(w http.ResponseWriter, name string) error {
	e, err := s.d.Images().Lookup(name)
	if err != nil {
		return err
	}
	img := e.Image
	out := []HistoryItem{}
	layer := 0
	for _, h := range img.Config.History {
		var size int64
		if !h.EmptyLayer {
			if layer >= len(img.LayerSizes) {
				return errdefs.Errorf(500, "too many non-empty layers in History section")
			}
			size = img.LayerSizes[layer]
			layer++
		}
		out = append([]HistoryItem{{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Comment: h.Comment, Size: size}}, out...)
	}
	if len(out) > 0 {
		out[0].ID, out[0].Tags = img.ID, e.Tags
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) imageDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("rest")
	s.d.ReleaseImages()
	img, _ := s.d.Images().Resolve(name)
	records, err := s.d.Images().Delete(name, boolValue(r, "force"), !boolValue(r, "noprune"), s.d)
	if err != nil {
		return err
	}
	s.d.ImageDeleteEvents(img, records)
	return writeJSON(w, http.StatusOK, records)
}

// imageSave is GET /images/get?names=...: docker save of several images.
func (s *server) imageSave(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	return s.saveImages(w, r.Form["names"])
}

// saveImages writes the archive; an error before the first byte is an
// ordinary error answer, one after it ends the stream.
func (s *server) saveImages(w http.ResponseWriter, names []string) error {
	items, err := s.d.Images().SaveItems(names)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.d.ImageStore().WriteArchive(w, items); err != nil {
		s.log.Printf("save %v: %v", names, err)
		return nil
	}
	for _, it := range items {
		s.d.ImageEvent(it.Image.ID, it.Image.ID, "save", it.Image.Config.RunConfig().Labels)
	}
	return nil
}

// imageLoad is docker load: the archive streams in, the answer is a
// stream of JSON messages (quiet unless asked otherwise), its errors in
// it.
func (s *server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	quiet := true
	if r.FormValue("quiet") != "" {
		quiet = boolValue(r, "quiet")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	if err := loadImages(s.d, r, out, quiet); err != nil {
		out.error(err)
	}
	return nil
}

// loadImages adds the archive's images to the store and to this host,
// saying what docker load says.
func loadImages(d *hostd.Daemon, r *http.Request, out *jsonStream, quiet bool) error {
	unlock, err := d.ImageStore().Lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	var progress image.LoadProgress
	if !quiet {
		progress = func(id string, size int64) { out.progress("Loading layer", id, size, size) }
	}
	var ids strings.Builder
	tagged := 0
	err = d.ImageStore().LoadArchive(r.Body, progress, func(l image.Loaded) error {
		msgs, err := d.Images().AddLoaded(l)
		for _, m := range msgs {
			out.stream(m + "\n")
		}
		if err != nil {
			return err
		}
		if img, err := d.Images().Resolve(l.ID); err == nil {
			d.ImageEvent(img.ID, img.ID, "load", img.Config.RunConfig().Labels)
		}
		fmt.Fprintf(&ids, "Loaded image ID: %s\n", l.ID)
		// As Docker: the count starts again with every image, so the IDs
		// are printed when the last image has no tag.
		tagged = len(l.Tags)
		for _, t := range l.Tags {
			out.stream("Loaded image: " + t + "\n")
		}
		return nil
	})
	if err == nil && tagged == 0 && ids.Len() > 0 {
		out.stream(ids.String())
	}
	return err
}

// imageCreate is docker pull (POST /images/create?fromImage=): a lab
// reaches no registry, so it fails as real Docker 20.10 fails there, after
// checking the reference, and changes nothing. docker import (fromSrc) is
// refused.
func (s *server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	from := strings.TrimSuffix(r.FormValue("fromImage"), ":")
	if from == "" {
		if src := r.FormValue("fromSrc"); src != "" {
			return errdefs.BadRequest("nslab: hostd does not implement docker import (fromSrc); load images made elsewhere with docker load")
		}
		// Docker takes the empty source for a URL and fails to get it.
		return errdefs.Errorf(500, "Get %q: http: no Host in request URL", "http:")
	}
	named, err := image.ParseNamed(from)
	if err != nil {
		return err
	}
	if tag := r.FormValue("tag"); tag != "" && !strings.HasPrefix(tag, "sha256:") {
		if _, err := image.WithTag(named, tag); err != nil {
			return err
		}
	}
	return registryError(named.Domain, lookupPort())
}

// imagePush is docker push: its answer streams; the image must exist,
// then the registry is out of reach as for a pull.
func (s *server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Header.Get("X-Registry-Auth") == "" {
		return errdefs.BadRequest("Bad parameters and missing X-Registry-Auth: EOF")
	}
	named, err := image.ParseNamed(name)
	if err != nil {
		return err
	}
	ref := name
	if tag := r.FormValue("tag"); tag != "" {
		ref = name + ":" + tag
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	out.write(map[string]string{"status": "The push refers to repository [" + named.Name() + "]"})
	if _, err := s.d.Images().Resolve(ref); err != nil {
		out.error(errdefs.NotFound("An image does not exist locally with the tag: %s", named.Familiar()))
		return nil
	}
	out.error(registryError(named.Domain, lookupPort()))
	return nil
}

// lookupPort is an ephemeral port as the kernel picks one for a lookup.
func lookupPort() int { return 32768 + rand.IntN(60999-32768) }

// imagePrune is docker image prune: untagged images no container uses,
// every such image with dangling=false.
func (s *server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.ParseAs(r.FormValue("filters"), "Invalid filter '%s'", "dangling", "label", "label!", "until")
	if err != nil {
		return err
	}
	if f.Has("until") {
		return errdefs.BadRequest("nslab: hostd does not implement the until filter of image prune")
	}
	dangling := true
	if f.Has("dangling") {
		switch {
		case f["dangling"]["false"] || f["dangling"]["0"]:
			dangling = false
		case !f["dangling"]["true"] && !f["dangling"]["1"]:
			return errdefs.BadRequest("Invalid filter 'dangling=[%s]'", strings.Join(f.Values("dangling"), " "))
		}
	}
	s.d.ReleaseImages()
	var deleted []image.DeleteRecord
	var reclaimed int64
	for _, e := range s.d.Images().List() {
		c := e.Image.Config.RunConfig()
		if (dangling && len(e.Tags) > 0) || !f.MatchLabels(c.Labels) || matchesAnyLabel(f["label!"], c.Labels) {
			continue
		}
		refs := e.Tags
		if len(refs) == 0 {
			refs = []string{strings.TrimPrefix(e.Image.ID, "sha256:")}
		}
		for _, ref := range refs {
			rs, err := s.d.Images().Delete(ref, false, true, s.d)
			if err != nil {
				continue
			}
			s.d.ImageDeleteEvents(e.Image, rs)
			deleted = append(deleted, rs...)
			reclaimed += layerSizes(e.Image, rs)
		}
	}
	s.d.PruneEvent(events.Image, reclaimed)
	return writeJSON(w, http.StatusOK, map[string]any{"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed})
}

// matchesAnyLabel is the label! filter: true when one of its labels
// ("key" or "key=value") is on the image.
func matchesAnyLabel(values map[string]bool, labels map[string]string) bool {
	for v := range values {
		k, want, hasValue := strings.Cut(v, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == want) {
			return true
		}
	}
	return false
}

// layerSizes adds up the sizes of the image's layers a delete removed.
func layerSizes(img *image.Image, rs []image.DeleteRecord) int64 {
	chains := image.ChainIDs(img.Config.RootFS.DiffIDs)
	var n int64
	for _, r := range rs {
		for i, c := range chains {
			if r.Deleted == c {
				n += img.LayerSizes[i]
			}
		}
	}
	return n
}

// jsonStream writes the JSON messages of a streamed answer (load), each
// flushed at once, as Docker's streamformatter writes them.
type jsonStream struct {
	w http.ResponseWriter
}

func newJSONStream(w http.ResponseWriter) *jsonStream { return &jsonStream{w: w} }

func (s *jsonStream) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.w.Write(append(b, '\r', '\n'))
	http.NewResponseController(s.w).Flush()
}

func (s *jsonStream) stream(text string) { s.write(map[string]string{"stream": text}) }

func (s *jsonStream) error(err error) {
	s.write(struct {
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
		Error string `json:"error"`
	}{ErrorDetail: struct {
		Message string `json:"message"`
	}{err.Error()}, Error: err.Error()})
}

// progress is one progress message as Docker's JSONProgress renders it.
func (s *jsonStream) progress(status, id string, current, total int64) {
	pct := min(int(float64(current)/float64(max(total, 1))*100)/2, 50)
	bar := fmt.Sprintf("[%s>%s] %8v/%v", strings.Repeat("=", pct), strings.Repeat(" ", 50-pct), image.HumanSize(current, 4), image.HumanSize(total, 4))
	s.write(struct {
		Status         string `json:"status"`
		ProgressDetail struct {
			Current int64 `json:"current"`
			Total   int64 `json:"total"`
		} `json:"progressDetail"`
		Progress string `json:"progress"`
		ID       string `json:"id"`
	}{Status: status, ProgressDetail: struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	}{current, total}, Progress: bar, ID: id})
}

// registryError is what Docker 20.10 answers a pull or push with in a
// lab, which reaches no registry: with no resolver configured, its lookup
// of the registry's name goes to the host's own loopback and is refused.
// port is the lookup's source port, random as the kernel's. A registry
// named by address (or localhost) would be dialled; hostd dials none and
// says so.
func registryError(domain string, port int) error {
	endpoint := domain
	if domain == "docker.io" {
		endpoint = "registry-1.docker.io"
	}
	host := endpoint
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		host = h
	}
	url := "https://" + endpoint + "/v2/"
	if net.ParseIP(host) != nil || host == "localhost" {
		return errdefs.Errorf(500, "Get %q: nslab: hostd pulls from no registry and pushes to none; move images with docker save and docker load", url)
	}
	return errdefs.Errorf(500, "Get %q: dial tcp: lookup %s on [::1]:53: read udp [::1]:%d->[::1]:53: read: connection refused", url, host, port)
}
