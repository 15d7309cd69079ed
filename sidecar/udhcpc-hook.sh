#!/bin/sh
# udhcpc event hook, run by busybox udhcpc inside a runtime's network namespace
# (docs/protocol.md#dhcp-clients-in-the-sidecar).
#
# udhcpc passes the event as $1 and the lease in the environment: interface, ip, mask, subnet, router, dns,
# domain, lease, serverid. The sidecar sets ORCH_DHCP_KEY (<container>_<vnic>) and ORCH_DHCP_LEASE_DIR.
#
# Output: the interface is configured, the lease is written atomically to $ORCH_DHCP_LEASE_DIR/$ORCH_DHCP_KEY.lease
# (the old sidecar's file, now with the right prefix and DNS), and the same JSON is printed on one stdout line
# starting with "ORCH_LEASE " - the sidecar reads udhcpc's output and turns that line into a dhcp_update event.
#
# ORCH_DHCP_NO_CONFIGURE=1 (WiFi vNICs, docs/protocol.md#wifi-vnics): udhcpc runs on the host's WiFi interface for
# the runtime, so the interface is never touched; the sidecar builds the Proxy-ARP bridge from the reported lease.

event="$1"
lease_dir="${ORCH_DHCP_LEASE_DIR:-/var/orchestrator/dhcp}"
key="${ORCH_DHCP_KEY:-$interface}"
lease_file="$lease_dir/$key.lease"

# busybox passes mask as a prefix length ("24"); other builds pass a dotted mask ("255.255.255.0"). The
# old hook counted the 1-bits of each dotted field of "24" and configured a /2.
prefix_from_mask() {
  case "$1" in
    '') echo 24 ;;
    *.*)
      bits=0
      old_ifs="$IFS"; IFS=.
      for octet in $1; do
        case "$octet" in
          255) bits=$((bits + 8)) ;; 254) bits=$((bits + 7)) ;; 252) bits=$((bits + 6)) ;;
          248) bits=$((bits + 5)) ;; 240) bits=$((bits + 4)) ;; 224) bits=$((bits + 3)) ;;
          192) bits=$((bits + 2)) ;; 128) bits=$((bits + 1)) ;; *) ;;
        esac
      done
      IFS="$old_ifs"
      echo "$bits" ;;
    *) echo "$1" ;;
  esac
}

# Lease values come from the network: escape them so a hostile server cannot break the JSON.
json_string() {
  printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

emit() {
  json="$1"
  mkdir -p "$lease_dir"
  tmp="$lease_file.tmp.$$"
  if printf '%s\n' "$json" > "$tmp"; then mv -f "$tmp" "$lease_file"; else rm -f "$tmp"; fi
  printf 'ORCH_LEASE %s\n' "$json"
}

now() { date -Iseconds 2>/dev/null || date; }

# Removes every IPv4 address of the interface except the one given (none when empty).
drop_other_addresses() {
  keep="$1"
  ip -o -4 addr show dev "$interface" | while read -r _idx _name _family cidr _rest; do
    [ "$cidr" = "$keep" ] || ip addr del "$cidr" dev "$interface"
  done
}

case "$event" in
  deconfig)
    [ "$ORCH_DHCP_NO_CONFIGURE" = 1 ] && exit 0
    ip link set dev "$interface" up
    drop_other_addresses ""
    ;;
  bound|renew)
    prefix=$(prefix_from_mask "${mask:-$subnet}")
    case "$prefix" in ''|*[!0-9]*) prefix=24 ;; esac
    # A renewal keeps the address in place: flushing first (as the old hook did) cut the PLC off for a moment.
    # No lifetime is set on purpose: if the sidecar is down, the PLC keeps its address rather than dropping off.
    if [ "$ORCH_DHCP_NO_CONFIGURE" != 1 ]; then
      ip addr replace "$ip/$prefix" dev "$interface"
      drop_other_addresses "$ip/$prefix"
      if [ -n "$router" ]; then
        set -- $router
        ip route replace default via "$1" dev "$interface" metric 100
      fi
    fi
    emit "{\"interface\":\"$(json_string "$interface")\",\"ip\":\"$(json_string "$ip")\",\"mask\":\"$(json_string "$mask")\",\"prefix\":$prefix,\"router\":\"$(json_string "$router")\",\"dns\":\"$(json_string "$dns")\",\"domain\":\"$(json_string "$domain")\",\"lease\":\"$(json_string "$lease")\",\"serverid\":\"$(json_string "$serverid")\",\"timestamp\":\"$(now)\",\"event\":\"$event\"}"
    ;;
  leasefail|nak)
    emit "{\"interface\":\"$(json_string "$interface")\",\"error\":\"lease_failed\",\"timestamp\":\"$(now)\",\"event\":\"$event\"}"
    ;;
esac
exit 0
