// The simulator's names for the network description, which lives below it in netmodel/ (shared with
// the fake GCS server): the profile, its file and the latency sampler are the same types, not copies.
#pragma once

#include "netmodel/network_profile.h"

namespace pflab::sim {

using netmodel::BuiltInProfilesText;
using netmodel::DefaultProfilesPath;
using netmodel::FindProfile;
using netmodel::kBuiltInProfilesName;
using netmodel::LatencySampler;
using netmodel::LoadProfiles;
using netmodel::NetworkProfile;
using netmodel::ParseProfiles;
using netmodel::ProfilesErrorSource;
using netmodel::ProfilesPath;
using netmodel::ProfilesSource;
using netmodel::ReadProfilesText;

}  // namespace pflab::sim
