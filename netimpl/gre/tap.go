package gre

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// vnetHdrLen is the size of struct virtio_net_hdr, which the TAP device
// puts before every frame once IFF_VNET_HDR is set (TUNSETVNETHDRSZ default).
const vnetHdrLen = 10

// vnetHdr is struct virtio_net_hdr in the host's byte order (legacy tun
// default). Through it the TAP hands over TCP super-frames of up to 64 KiB
// with a partial checksum (TSO) instead of one frame per MSS, and accepts
// such super-frames back (GRO): one read or write per 64 KiB, not per 1.5 KiB.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// tapOffloads are the offloads the TAP announces: checksum and TCP
// segmentation for IPv4 and IPv6, which this package segments itself.
// Everything else (UDP GSO, ECN-marked TSO) the kernel segments before the
// frame reaches the TAP.
const tapOffloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6

// openTAP creates the TAP device name in the calling thread's network
// namespace (the tun driver takes the namespace of the opener) and returns
// its queue as a non-blocking file, so reads and writes go through the Go
// poller and Close wakes them. The device lives as long as the file: closing
// it removes the link.
func openTAP(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	// Without offloads (a kernel that refuses them) the TAP still works,
	// one frame per MSS, with the vnet header all zero.
	_ = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tapOffloads)
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}
