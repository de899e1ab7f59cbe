// openmm_bridge: builds and drives one OpenMM Context for C callers; every
// entry point turns exceptions into an error message (openmm_bridge.h).
#include "core/openmm_bridge.h"

#include <OpenMM.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

using namespace OpenMM;

struct openmm_bridge {
    std::unique_ptr<System> system;
    std::unique_ptr<Integrator> integrator;
    std::unique_ptr<Context> context;
    std::string platform;
    bool periodic = false;
};

namespace
{

void set_err(char *err, size_t errlen, const char *what, const std::string &why)
{
    std::snprintf(err, errlen, "%s: %s", what, why.c_str());
}

// OpenMM 7.7 is not safe for two threads at once in its XML serializer
// (systems parsed side by side come out garbled: NaN positions, angles out
// of range; measured) nor in the CPU platform's registry of contexts (one
// unlocked map; a SEGV in ThreadPool::getNumThreads seen). Everything that
// reads or writes XML, or makes or destroys a Context, holds this lock;
// stepping contexts needs none.
std::mutex openmm_lock;

void load_plugins()
{
    static std::once_flag once;
    std::call_once(once, [] { Platform::loadPluginsFromDirectory(Platform::getDefaultPluginsDirectory()); });
}

template <class T> std::unique_ptr<T> read_xml(const openmm_bridge_text &text)
{
    std::istringstream in(std::string(text.data, text.len));
    return std::unique_ptr<T>(XmlSerializer::deserialize<T>(in));
}

template <class T> bool try_seed(Integrator *integrator, int seed)
{
    T *t = dynamic_cast<T *>(integrator);
    if (t)
        t->setRandomNumberSeed(seed);
    return t != nullptr;
}

// Every stochastic piece gets the activation's seed, so noise never repeats
// when a stream resumes from a checkpoint.
void seed_everything(System &system, Integrator *integrator, int seed)
{
    try_seed<LangevinIntegrator>(integrator, seed) || try_seed<LangevinMiddleIntegrator>(integrator, seed) ||
        try_seed<BrownianIntegrator>(integrator, seed) ||
        try_seed<VariableLangevinIntegrator>(integrator, seed) ||
        try_seed<CustomIntegrator>(integrator, seed);
    for (int i = 0; i < system.getNumForces(); i++) {
        Force &f = system.getForce(i);
        if (auto *a = dynamic_cast<AndersenThermostat *>(&f))
            a->setRandomNumberSeed(seed);
        else if (auto *m = dynamic_cast<MonteCarloBarostat *>(&f))
            m->setRandomNumberSeed(seed);
        else if (auto *ma = dynamic_cast<MonteCarloAnisotropicBarostat *>(&f))
            ma->setRandomNumberSeed(seed);
        else if (auto *mm = dynamic_cast<MonteCarloMembraneBarostat *>(&f))
            mm->setRandomNumberSeed(seed);
        else if (auto *mf = dynamic_cast<MonteCarloFlexibleBarostat *>(&f))
            mf->setRandomNumberSeed(seed);
    }
}

void copy_vectors(const std::vector<Vec3> &v, double *out)
{
    for (size_t i = 0; i < v.size(); i++)
        for (int k = 0; k < 3; k++)
            out[3 * i + k] = v[i][k];
}

void fill_common(const State &st, openmm_bridge_state *s)
{
    Vec3 a, b, c;
    st.getPeriodicBoxVectors(a, b, c);
    const Vec3 *box[3] = {&a, &b, &c};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            s->box[i][k] = (*box[i])[k];
    s->time = st.getTime();
    s->step = st.getStepCount();
    copy_vectors(st.getPositions(), s->positions);
}

// Runs f, turning any exception into -1 and "what: message" in err.
template <class F> int guarded(const char *what, char *err, size_t errlen, F f)
{
    try {
        f();
        return 0;
    } catch (const std::exception &e) {
        set_err(err, errlen, what, e.what());
    } catch (...) {
        set_err(err, errlen, what, "unknown OpenMM error");
    }
    return -1;
}

openmm_bridge *create(const openmm_bridge_setup *setup, char *err, size_t errlen)
{
    std::lock_guard<std::mutex> hold(openmm_lock);
    std::unique_ptr<openmm_bridge> b(new openmm_bridge);
    std::unique_ptr<State> state;
    if (guarded("system.xml", err, errlen, [&] { b->system = read_xml<System>(setup->system); }) != 0 ||
        guarded("state.xml", err, errlen, [&] { state = read_xml<State>(setup->state); }) != 0 ||
        guarded("integrator.xml", err, errlen,
                [&] { b->integrator = read_xml<Integrator>(setup->integrator); }) != 0)
        return nullptr;
    int natoms = b->system->getNumParticles();
    size_t npos = 0;
    if (guarded("state.xml", err, errlen, [&] { npos = state->getPositions().size(); }) != 0)
        return nullptr;
    if (npos != (size_t)natoms) {
        std::snprintf(err, errlen, "state.xml has %zu positions; system.xml has %d particles", npos, natoms);
        return nullptr;
    }
    if (setup->seed > 0)
        seed_everything(*b->system, b->integrator.get(), setup->seed);
    int rc = guarded("platform", err, errlen, [&] {
        load_plugins();
        Platform &platform = Platform::getPlatformByName(setup->platform);
        std::map<std::string, std::string> props;
        if (setup->threads > 0 && std::strcmp(setup->platform, "CPU") == 0)
            props["Threads"] = std::to_string(setup->threads);
        b->context.reset(new Context(*b->system, *b->integrator, platform, props));
        b->platform = b->context->getPlatform().getName();
    });
    if (rc != 0)
        return nullptr;
    rc = guarded("state.xml", err, errlen, [&] {
        b->context->setState(*state);
        b->context->setStepCount(state->getStepCount());
    });
    if (rc != 0)
        return nullptr;
    b->periodic = b->system->usesPeriodicBoundaryConditions();
    return b.release();
}

} // namespace

extern "C" {

openmm_bridge *openmm_bridge_create(const openmm_bridge_setup *setup, char *err, size_t errlen)
{
    try {
        return create(setup, err, errlen);
    } catch (...) {
        set_err(err, errlen, "openmm", "out of memory");
    }
    return nullptr;
}

void openmm_bridge_free(openmm_bridge *b)
{
    try {
        std::lock_guard<std::mutex> hold(openmm_lock);
        delete b;
    } catch (...) {
        // A destructor that throws leaves nothing to clean up here.
    }
}

int openmm_bridge_check_platform(const char *name, char *err, size_t errlen)
{
    return guarded("platform", err, errlen, [&] {
        std::lock_guard<std::mutex> hold(openmm_lock);
        load_plugins();
        std::string known;
        for (int i = 0; i < Platform::getNumPlatforms(); i++) {
            std::string n = Platform::getPlatform(i).getName();
            if (n == name)
                return;
            if (known.find(n) == std::string::npos)
                known += (known.empty() ? "" : ", ") + n;
        }
        throw OpenMMException(std::string("OpenMM has no platform ") + name + " on this machine (it has " +
                              known + ")");
    });
}

int openmm_bridge_natoms(const openmm_bridge *b)
{
    return b->system->getNumParticles();
}

int openmm_bridge_periodic(const openmm_bridge *b)
{
    return b->periodic;
}

const char *openmm_bridge_platform(const openmm_bridge *b)
{
    return b->platform.c_str();
}

int openmm_bridge_step(openmm_bridge *b, int steps, char *err, size_t errlen)
{
    return guarded("OpenMM", err, errlen, [&] { b->integrator->step(steps); });
}

int openmm_bridge_frame(openmm_bridge *b, openmm_bridge_state *s, char *err, size_t errlen)
{
    return guarded("frame", err, errlen,
                   [&] { fill_common(b->context->getState(State::Positions, b->periodic), s); });
}

int openmm_bridge_checkpoint(openmm_bridge *b, openmm_bridge_state *s, char **xml, size_t *xml_len, char *err,
                             size_t errlen)
{
    *xml = nullptr;
    return guarded("checkpoint", err, errlen, [&] {
        State st =
            b->context->getState(State::Positions | State::Velocities | State::Parameters | State::Energy);
        fill_common(st, s);
        copy_vectors(st.getVelocities(), s->velocities);
        s->potential = st.getPotentialEnergy();
        s->kinetic = st.getKineticEnergy();
        std::ostringstream out;
        std::lock_guard<std::mutex> hold(openmm_lock);
        XmlSerializer::serialize<State>(&st, "State", out);
        std::string text = out.str();
        char *copy = static_cast<char *>(std::malloc(text.size() + 1));
        if (!copy)
            throw std::bad_alloc();
        std::memcpy(copy, text.c_str(), text.size() + 1);
        *xml = copy;
        *xml_len = text.size();
    });
}

} // extern "C"
