// SPDX-License-Identifier: MIT OR Apache-2.0
// A minimal ERC-20 used by the executor benchmark (transfers between funded holders).
pragma solidity 0.8.28;

contract Token {
    mapping(address => uint256) public balanceOf; // slot 0
    uint256 public totalSupply; // slot 1

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
        totalSupply = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        uint256 b = balanceOf[msg.sender];
        require(b >= value, "balance too low");
        unchecked {
            balanceOf[msg.sender] = b - value;
        }
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
