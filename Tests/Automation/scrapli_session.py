#!/usr/bin/env python3
"""Drives a switch the way scrapli users do: IOSXEDriver over SSH (the paramiko transport).

  scrapli_session.py --port PORT --user USER --password PW [--secret S]

Opens the driver (its on_open: enable, terminal length 0, terminal width 512), pushes VLAN, SVI
and VRRP lines with send_configs, saves with write memory, and reads back with send_command
(ntc-templates parse what scrapli's textfsm_parse_output asks for). Prints one JSON object of what
it saw, for the test to judge."""
import json
import time

from scrapli.driver.core import IOSXEDriver

import switch_login


def main():
    parser = switch_login.arguments()
    parser.add_argument("--secret", default="")
    args = parser.parse_args()
    out = {}
    t0 = time.monotonic()
    device = IOSXEDriver(host=args.host, port=args.port, auth_username=args.user, auth_password=args.password,
                         auth_secondary=args.secret, auth_strict_key=False, transport="paramiko",
                         timeout_socket=10, timeout_transport=20, timeout_ops=20)
    device.open()
    out["open_s"] = time.monotonic() - t0
    out["prompt"] = device.get_prompt()
    configs = device.send_configs(["vlan 50", "name scrapli", "exit", "interface vlan50", "ip address 10.50.0.2/24",
                                   "vrrp 50 ip 10.50.0.1", "vrrp 50 priority 120", "exit"])
    out["config_failed"] = configs.failed
    out["config_output"] = configs.result
    out["after_config_prompt"] = device.get_prompt()
    save = device.send_command("write memory")
    out["save_output"] = save.result
    brief = device.send_command("show vrrp brief")
    out["vrrp_brief_raw"] = brief.result
    out["vrrp_brief"] = brief.textfsm_parse_output()
    vlans = device.send_command("show vlan brief")
    out["vlans"] = vlans.textfsm_parse_output()
    bad = device.send_command("show no-such-thing")
    out["bad_failed"] = bad.failed
    out["bad_output"] = bad.result
    out["running"] = device.send_command("show running-config").result
    device.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
