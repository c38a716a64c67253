// glia/io.hpp: the one include for glia's optional image loading (the glia::io CMake target).
//
// glia::io is glia::glia plus stb_image (Debian's libstb-dev): image folders (one sub-folder per
// class) and single image files, decoded into uint8 ImageDatasets (data/image_folder.hpp has
// the contract: formats, sizes, what throws). It is defined only when CMake finds
// <stb/stb_image.h>; with glia::io a program gets exactly this, whatever else is installed.
#pragma once

#include "glia/glia.hpp"
#include "glia/data/image_folder.hpp"
