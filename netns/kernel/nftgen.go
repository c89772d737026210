package kernel

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// PristineGeneration is the nf_tables generation of a namespace in which
// nothing was ever committed (the kernel starts each namespace's count at
// 1 and moves it with every commit): such a namespace holds no table, no
// chain and no rule of the nf_tables backend.
const PristineGeneration = 1

// RulesetGeneration returns the nf_tables generation of the namespace at
// ns: a number the kernel moves on with every change to the namespace's
// ruleset, whoever makes it (nft, iptables-nft, a daemon through netlink).
// An unchanged generation is an unchanged ruleset; a changed one may have
// come back to the same rules. Rules of the legacy iptables backend do not
// move it.
func RulesetGeneration(ns string) (uint32, error) {
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("%s: nf_tables generation: %w", ns, err)
	}
	defer unix.Close(fd)
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fd})
	if err != nil {
		return 0, fmt.Errorf("%s: nf_tables generation: %w", ns, err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		// struct nfgenmsg: family, version, resource id.
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("%s: nf_tables generation: %w", ns, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("%s: nf_tables generation: %w", ns, err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, fmt.Errorf("%s: nf_tables generation: no NFTA_GEN_ID in the answer", ns)
}
