// Package image is hostd's image store: the machine-wide store of layers
// and image configs (Store), unpacked once per machine and shared by every
// lab, and the per-host list of images and tags (Repository), as each
// dockerd keeps its own. Images come in and go out in the format `docker
// save` of Docker 20.10 writes (LoadArchive, WriteArchive); the default
// image is built in Go from Debian's busybox-static (BuildDefault).
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Image is one image of a host.
type Image struct {
	// ID is "sha256:<64 hex>": the digest of the image config blob, as
	// Docker's image ID.
	ID string
	// Config is the image config document.
	Config Config
	// Layers are the absolute paths of the unpacked layer trees (overlayfs
	// lower dirs), lowest layer first. A deleted file is an overlayfs
	// whiteout (a 0/0 character device), an opaque directory carries
	// trusted.overlay.opaque=y.
	Layers []string
	// Size is the sum of the layers' sizes, as Docker counts them: the
	// sizes in the layers' tar headers.
	Size int64
	// LayerSizes are the layers' own sizes, lowest first (docker history).
	LayerSizes []int64
	// Raw is the config blob as stored: its sha256 is ID, and docker save
	// writes it back byte for byte.
	Raw []byte
}

// ShortID is the 12 hex digits Docker prints for an image.
func (img *Image) ShortID() string { return ShortID(img.ID) }

// ShortID is the 12 hex digits Docker prints for an ID with or without
// its "sha256:".
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// V1Image is the legacy part of Docker's image JSON (image.V1Image of
// Docker 20.10), field for field and in its order: docker save derives
// its legacy layer IDs from this marshalling.
type V1Image struct {
	ID              string           `json:"id,omitempty"`
	Parent          string           `json:"parent,omitempty"`
	Comment         string           `json:"comment,omitempty"`
	Created         time.Time        `json:"created"`
	Container       string           `json:"container,omitempty"`
	ContainerConfig ContainerConfig  `json:"container_config,omitempty"`
	DockerVersion   string           `json:"docker_version,omitempty"`
	Author          string           `json:"author,omitempty"`
	Config          *ContainerConfig `json:"config,omitempty"`
	Architecture    string           `json:"architecture,omitempty"`
	Variant         string           `json:"variant,omitempty"`
	OS              string           `json:"os,omitempty"`
	Size            int64            `json:",omitempty"`
}

// Config is Docker's image JSON (image.Image of Docker 20.10): the legacy
// fields, then the layers and the history. Config.Config, the container
// config the image runs with, may be missing from an old image: RunConfig
// is never nil.
type Config struct {
	V1Image
	RootFS     *RootFS   `json:"rootfs,omitempty"`
	History    []History `json:"history,omitempty"`
	OSVersion  string    `json:"os.version,omitempty"`
	OSFeatures []string  `json:"os.features,omitempty"`
}

// RunConfig is the container config the image runs with (Entrypoint, Cmd,
// Env, WorkingDir, User...): Config.Config, or an empty one.
func (c *Config) RunConfig() *ContainerConfig {
	if c.Config == nil {
		return &ContainerConfig{}
	}
	return c.Config
}

// RootFS lists the layers of an image by diff ID (the sha256 of the
// uncompressed layer tar), lowest first.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids,omitempty"`
}

// History is one step of how the image was made.
type History struct {
	Created    time.Time `json:"created,omitempty"`
	Author     string    `json:"author,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// StrSlice is Docker's StrSlice: a JSON string or an array of strings.
type StrSlice []string

func (s *StrSlice) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = StrSlice{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("json: cannot unmarshal %s into a string or a list of strings", b)
	}
	*s = many
	return nil
}

// HealthConfig is Docker's container.HealthConfig; durations are in
// nanoseconds, as Docker writes them.
type HealthConfig struct {
	Test        []string      `json:",omitempty"`
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

// ContainerConfig is Docker 20.10's container.Config, field for field and
// in its order: an image's config, and a container's. The order matters:
// docker save derives its legacy layer IDs from this marshalling.
type ContainerConfig struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	ExposedPorts    map[string]struct{} `json:",omitempty"`
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             StrSlice
	Healthcheck     *HealthConfig `json:",omitempty"`
	ArgsEscaped     bool          `json:",omitempty"`
	Image           string
	Volumes         map[string]struct{}
	WorkingDir      string
	Entrypoint      StrSlice
	NetworkDisabled bool   `json:",omitempty"`
	MacAddress      string `json:",omitempty"`
	OnBuild         []string
	Labels          map[string]string
	StopSignal      string   `json:",omitempty"`
	StopTimeout     *int     `json:",omitempty"`
	Shell           StrSlice `json:",omitempty"`
}

// ErrInvalidConfig is the kind of every error about a config blob.
var ErrInvalidConfig = errors.New("invalid image config")

// ParseConfig reads an image config blob as Docker's image.NewFromJSON
// does: it must name its layers.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if c.RootFS == nil {
		return Config{}, fmt.Errorf("%w: invalid image JSON, no RootFS key", ErrInvalidConfig)
	}
	for _, d := range c.RootFS.DiffIDs {
		if !ValidDigest(d) {
			return Config{}, fmt.Errorf("%w: diff ID %q is not a sha256 digest", ErrInvalidConfig, d)
		}
	}
	return c, nil
}

// Digest is "sha256:" and the hex sha256 of b: an image ID from its config
// blob, a diff ID from its uncompressed layer tar.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ValidDigest reports whether s is "sha256:" and 64 lower-case hex digits.
func ValidDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && validHex(h)
}

func validHex(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// HumanSize is go-units' HumanSizeWithPrecision: decimal units, precision
// significant digits ("1.98MB" with 3, as docker images prints sizes;
// "1.985MB" with 4, as a load's progress does).
func HumanSize(n int64, precision int) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	size, i := float64(n), 0
	for size >= 1000 && i < len(units)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", precision, size, units[i])
}

// ChainIDs are Docker's layer chain IDs of a list of diff IDs: the first
// is the first diff ID, each next one the digest of "<previous> <diff ID>".
// docker rmi lists them as the layers it deleted.
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = Digest([]byte(out[i-1] + " " + d))
	}
	return out
}
