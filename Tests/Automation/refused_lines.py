#!/usr/bin/env python3
"""Pushes lines the switch refuses through netmiko and scrapli, as configuration scripts do, and
reports whether each library saw the failure with the error patterns its users rely on.

  refused_lines.py --port PORT --user USER --password PW

netmiko: send_config_set(..., error_pattern=r"% Invalid|% Incomplete|% Ambiguous") must raise.
scrapli: IOSXEDriver.send_configs with its default failed_when_contains must mark the response
failed. Prints one JSON object: for each line, what each library said."""
import json

from netmiko import ConnectHandler
from netmiko.exceptions import ConfigInvalidException
from scrapli.driver.core import IOSXEDriver

import switch_login

# (parent, line): a number out of range, an unknown word, a refused value, an incomplete and an
# ambiguous command, a refusal by the chip's own rules (a static MAC on an SVI).
CASES = [
    ("interface vlan10", "vrrp 5 priority 999"),
    ("interface vlan10", "vrrp 5 priorty 10"),
    ("interface vlan10", "vrrp 5 advertisement-interval 15"),
    ("interface vlan10", "vrrp 5 ip"),
    (None, "no vlan 1"),
    (None, "i"),
    (None, "mac address-table static 0200.0000.0001 vlan 1 interface vlan10"),
]


def main():
    parser = switch_login.arguments()
    args = parser.parse_args()
    out = {"netmiko": [], "scrapli": []}
    conn = ConnectHandler(device_type="cisco_ios", host=args.host, port=args.port, username=args.user,
                          password=args.password, timeout=20, conn_timeout=10)
    conn.enable()
    conn.send_config_set(["vlan 10", "exit", "interface vlan10", "ip address 10.10.0.2/24", "exit"])
    for parent, line in CASES:
        lines = ([parent] if parent else []) + [line]
        try:
            text = conn.send_config_set(lines, error_pattern=r"% Invalid|% Incomplete|% Ambiguous")
            out["netmiko"].append({"line": line, "raised": False, "output": text})
        except ConfigInvalidException as error:
            out["netmiko"].append({"line": line, "raised": True, "output": str(error)})
    conn.disconnect()
    device = IOSXEDriver(host=args.host, port=args.port, auth_username=args.user, auth_password=args.password,
                         auth_strict_key=False, transport="paramiko", timeout_socket=10, timeout_transport=20, timeout_ops=20)
    device.open()
    for parent, line in CASES:
        lines = ([parent] if parent else []) + [line]
        response = device.send_configs(lines)
        out["scrapli"].append({"line": line, "failed": response.failed, "output": response.result})
    device.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
