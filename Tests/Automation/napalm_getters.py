#!/usr/bin/env python3
"""Runs NAPALM's ios driver, unchanged, against a switch over SSH: every getter automation
uses, each result (or the exception it raised) in one JSON object for the test to judge.

  napalm_getters.py --port PORT --user USER --password PW"""
import json

from napalm import get_network_driver

import switch_login

GETTERS = ["is_alive", "get_facts", "get_interfaces", "get_interfaces_ip", "get_interfaces_counters", "get_arp_table",
           "get_mac_address_table", "get_vlans", "get_users", "get_environment", "get_snmp_information",
           "get_lldp_neighbors", "get_lldp_neighbors_detail", "get_config"]


def main():
    parser = switch_login.arguments()
    args = parser.parse_args()
    driver = get_network_driver("ios")(args.host, args.user, args.password, timeout=30,
                                       optional_args={"port": args.port, "secret": ""})
    driver.open()
    out = {}
    for getter in GETTERS:
        try:
            out[getter] = {"result": getattr(driver, getter)()}
        except Exception as error:  # what the test reports: the getter and how it failed
            out[getter] = {"error": f"{type(error).__name__}: {error}"}
    driver.close()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
