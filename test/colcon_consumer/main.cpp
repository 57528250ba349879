// Builds and prints messages of seg_perception: proves headers, constants and libraries reach a C++ package.
#include <iostream>

#include "seg_perception/msg/lane_boundary_array.hpp"
#include "seg_perception/msg/parking_slot_array.hpp"

int main() {
  seg_perception::msg::ParkingSlotArray slots;
  seg_perception::msg::ParkingSlot slot;
  slot.occupancy = seg_perception::msg::ParkingSlot::OCCUPANCY_FREE;
  slot.corners[1].x = 2.5;
  slots.slots.push_back(slot);
  seg_perception::msg::LaneBoundaryArray lanes;
  lanes.boundaries.resize(2);
  lanes.boundaries[0].position = seg_perception::msg::LaneBoundary::POSITION_EGO_LEFT;
  std::cout << "slots=" << slots.slots.size() << " corner1.x=" << slots.slots[0].corners[1].x
            << " lanes=" << lanes.boundaries.size()
            << " ego_left=" << static_cast<int>(lanes.boundaries[0].position) << std::endl;
  return 0;
}
