// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// The contract every client deploys against kalgo --dev: a value, an event and
/// two kinds of revert (a reason string and a custom error).
contract Store {
    uint256 public value;

    event Set(address indexed who, uint256 value);

    error TooBig(uint256 value, uint256 max);

    function set(uint256 v) external {
        require(v != 13, "unlucky");
        if (v > 1000) revert TooBig(v, 1000);
        value = v;
        emit Set(msg.sender, v);
    }
}
