<#
.SYNOPSIS
  One-command install of the obs-matting filter into OBS Studio on Windows. Safe to run again.

.DESCRIPTION
  Finds OBS and its version, finds (or installs with winget) the 64-bit python.org Python that this OBS
  can load, then hands over to `python -m obsmatte.installer`, which installs the pinned packages,
  downloads the models you chose (verified, resumable) and sets OBS's Python path in its ini file.
  This script only collects facts; the decisions are made, and tested, in lib\obsmatte\installer.
  Exit codes match lib\obsmatte\installer\failures.py.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1
  powershell -ExecutionPolicy Bypass -File install.ps1 -Models rvm_mobilenetv3 -AcceptLicenses
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall
  powershell -ExecutionPolicy Bypass -File install.ps1 -Cuda   # NVIDIA: the CUDA build instead of DirectML
#>
[CmdletBinding()]
param(
    [switch]$DryRun,
    [switch]$Uninstall,
    [string[]]$Models = @(),
    [switch]$AcceptLicenses,
    [switch]$Cpu,
    [switch]$Cuda
)

$ErrorActionPreference = 'Stop'
$Repo = Split-Path -Parent $MyInvocation.MyCommand.Path
$ExitNoObs = 10; $ExitObsUnsupported = 11; $ExitNoPython = 12; $ExitObsRunning = 16

function Fail([int]$Code, [string]$Message) {
    Write-Host "install: error: $Message" -ForegroundColor Red
    exit $Code
}

function Say([string]$Message) { Write-Host "install: $Message" }

function Invoke-Quiet([string]$Exe, [string[]]$Arguments) {
    # A native program with its stderr dropped; its stdout lines are returned, its exit code is in $LASTEXITCODE.
    # Windows PowerShell 5.1 under this script's 'Stop' turns any line on a redirected stderr (2>$null too) into
    # a terminating NativeCommandError, so a Python warning or an nvidia-smi complaint stopped the install:
    # under 'Continue' the line is just dropped.
    $saved = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    $global:LASTEXITCODE = -1  # a program that cannot start sets none: not the previous program's 0
    try { & $Exe @Arguments 2>$null }
    finally { $ErrorActionPreference = $saved }
}

function Find-Obs {
    # The OBS installer records its folder as the default value of this key; fall back to the usual places.
    $candidates = @()
    foreach ($key in 'HKLM:\SOFTWARE\OBS Studio', 'HKLM:\SOFTWARE\WOW6432Node\OBS Studio', 'HKCU:\SOFTWARE\OBS Studio') {
        $item = Get-ItemProperty -Path $key -ErrorAction SilentlyContinue
        if ($item -and $item.'(default)') { $candidates += $item.'(default)' }
    }
    $candidates += Join-Path $env:ProgramFiles 'obs-studio'
    if (${env:ProgramFiles(x86)}) { $candidates += Join-Path ${env:ProgramFiles(x86)} 'obs-studio' }
    $candidates += 'C:\Program Files\obs-studio'
    foreach ($dir in $candidates) {
        $exe = Join-Path $dir 'bin\64bit\obs64.exe'
        if (Test-Path -LiteralPath $exe) { return $exe }
    }
    return $null
}

function Get-ObsVersion([string]$Exe) {
    $info = (Get-Item -LiteralPath $Exe).VersionInfo
    if ($info.ProductVersion) { return ($info.ProductVersion -split '[^0-9.]')[0] }
    return "{0}.{1}.{2}" -f $info.FileMajorPart, $info.FileMinorPart, $info.FileBuildPart
}

function Get-PythonChoices([string]$ObsVersion) {
    # The same table the Python installer uses (obs_python_table.json), read here because no Python
    # may exist yet. Returns the acceptable Python minors, preferred first.
    $table = Get-Content -Raw -LiteralPath (Join-Path $Repo 'lib\obsmatte\installer\obs_python_table.json') | ConvertFrom-Json
    $v = [version](($ObsVersion -split '\.')[0..1] -join '.')
    if ($v -lt [version]$table.oldest_supported) {
        Fail $ExitObsUnsupported "OBS $ObsVersion is too old: the filter needs OBS $($table.oldest_supported) or newer; update OBS from https://obsproject.com"
    }
    foreach ($row in $table.rows) {
        if ($v -ge [version]$row.from -and $v -lt [version]$row.below) { return @($row.pythons) }
    }
    $newest = $table.rows[-1]
    Write-Warning "OBS $ObsVersion is newer than this installer knows; using Python $($newest.pythons[0]) as for the newest known OBS"
    return @($newest.pythons)
}

function Test-Python64([string]$PythonExe) {
    if (-not (Test-Path -LiteralPath $PythonExe)) { return $false }
    $bits = Invoke-Quiet $PythonExe @('-c', "import struct; print(struct.calcsize('P') * 8)")
    return ($LASTEXITCODE -eq 0 -and "$bits".Trim() -eq '64')
}

function Find-Python([string]$Minor) {
    # 1) the py launcher's list of installs: lines like " -V:3.12 *   C:\...\python.exe" (older: " -3.12-64 C:\...")
    if (Get-Command py -ErrorAction SilentlyContinue) {
        $launcherList = Invoke-Quiet py @('-0p')
        foreach ($line in $launcherList) {
            if ($line -match "^\s*-(V:)?$([regex]::Escape($Minor))(-64)?\s+\*?\s*(.+python\.exe)\s*$") {
                $exe = $Matches[3].Trim()
                if (Test-Python64 $exe) { return $exe }
            }
        }
    }
    # 2) the registry entries python.org installers write (PEP 514), per-user first
    foreach ($root in 'HKCU:\SOFTWARE\Python\PythonCore', 'HKLM:\SOFTWARE\Python\PythonCore') {
        $item = Get-ItemProperty -Path "$root\$Minor\InstallPath" -ErrorAction SilentlyContinue
        if ($item -and $item.'(default)') {
            $exe = Join-Path $item.'(default)' 'python.exe'
            if (Test-Python64 $exe) { return $exe }
        }
    }
    return $null
}

function Install-Python([string]$Minor) {
    if (-not (Get-Command winget -ErrorAction SilentlyContinue)) {
        Fail $ExitNoPython "Python $Minor (64-bit) is needed and winget is not available: install it from https://www.python.org/downloads/windows/ and run this again"
    }
    Say "installing Python $Minor for your user with winget (winget install Python.Python.$Minor)"
    & winget install --id "Python.Python.$Minor" --exact --scope user --silent --accept-package-agreements --accept-source-agreements
    if ($LASTEXITCODE -ne 0) {
        Fail $ExitNoPython "winget could not install Python $Minor (exit $LASTEXITCODE); install it from https://www.python.org/downloads/windows/ and run this again"
    }
}

function Get-GpuNames {
    try { return @(Get-CimInstance -ClassName Win32_VideoController | ForEach-Object { $_.Name } | Where-Object { $_ }) }
    catch { return @() }
}

function Get-NvidiaFacts {
    # The driver's version and the GPU's compute capability decide which CUDA build fits (CUDA 13 or 12);
    # nvidia-smi comes with the driver. Without it, Windows' own driver version of the NVIDIA adapter.
    $smi = Get-Command nvidia-smi -ErrorAction SilentlyContinue
    $paths = @("$env:SystemRoot\System32\nvidia-smi.exe", "$env:ProgramFiles\NVIDIA Corporation\NVSMI\nvidia-smi.exe")
    if ($smi) { $smi = $smi.Source }
    else { $smi = $paths | Where-Object { Test-Path $_ } | Select-Object -First 1 }
    if ($smi) {
        # quoted: unquoted, PowerShell would read a,b as an array and split the argument
        $line = @(Invoke-Quiet $smi @('--query-gpu=driver_version,compute_cap', '--format=csv,noheader'))[0]
        if ($LASTEXITCODE -ne 0 -or -not $line) {
            # compute_cap is a query field from driver 510 on: an older driver refuses it; ask for the version alone
            $line = @(Invoke-Quiet $smi @('--query-gpu=driver_version', '--format=csv,noheader'))[0]
        }
        $parts = @("$line" -split ',' | ForEach-Object { $_.Trim() })
        # "NVIDIA-SMI has failed ..." comes on stdout too: only a version number counts
        if ($LASTEXITCODE -eq 0 -and $parts[0] -match '^\d+\.\d+') {
            $out = @('--nvidia-driver', $parts[0])
            if ($parts.Count -gt 1 -and $parts[1] -match '^\d') { $out += @('--compute-capability', $parts[1]) }
            return $out
        }
    }
    try {
        $adapter = Get-CimInstance -ClassName Win32_VideoController |
            Where-Object { $_.Name -match 'NVIDIA' } | Select-Object -First 1
        if ($adapter -and $adapter.DriverVersion) { return @('--nvidia-driver', $adapter.DriverVersion) }
    } catch { }
    return @()
}

# ---- main -------------------------------------------------------------------------------------------
if (Get-Process -Name @('obs64', 'obs32') -ErrorAction SilentlyContinue) {
    Fail $ExitObsRunning "OBS is running: close OBS (File > Exit) and run the installer again"
}

$obsExe = Find-Obs
$obsVersion = $null
$choices = @('3.12', '3.11', '3.10')
if ($obsExe) {
    $obsVersion = Get-ObsVersion $obsExe
    Say "found OBS $obsVersion at $obsExe"
    # @(...): PowerShell unrolls a returned one-item array into a plain string ("3.10"[0] would be '3')
    $choices = @(Get-PythonChoices $obsVersion)
} elseif (-not $Uninstall) {
    Fail $ExitNoObs "OBS Studio not found (registry and Program Files); install it from https://obsproject.com and run this again"
}

$python = $null
foreach ($minor in $choices) {
    $python = Find-Python $minor
    if ($python) { break }
}
if (-not $python) {
    if ($Uninstall) { Fail $ExitNoPython "no Python found to run the uninstaller" }
    if ($DryRun) {
        Say "would install Python $($choices[0]) with winget (winget install Python.Python.$($choices[0]))"
        Say "dry run: nothing was changed"
        exit 0
    }
    Install-Python $choices[0]
    $python = Find-Python $choices[0]
    if (-not $python) { Fail $ExitNoPython "Python $($choices[0]) was installed but cannot be found; open a new PowerShell and run this again" }
}
$pythonHome = Split-Path -Parent $python
Say "using Python $python"

# The Python side: pinned packages (pip, into this Python), model downloads, the OBS ini setting.
$env:PYTHONPATH = Join-Path $Repo 'lib'
$arguments = @('-m', 'obsmatte.installer')
if ($Uninstall) { $arguments += 'uninstall' } else { $arguments += 'install' }
$arguments += @('--os', 'windows', '--python-home', $pythonHome, '--obs-running', 'no')
if ($obsVersion) { $arguments += @('--obs-version', $obsVersion) }
if (-not $Uninstall) {
    foreach ($gpu in Get-GpuNames) { $arguments += @('--gpu', $gpu) }
    $arguments += @(Get-NvidiaFacts)
    if ($Cuda) { $arguments += '--cuda' }
    if ($Models.Count -gt 0) { $arguments += @('--models', ($Models -join ',')) }
    if ($AcceptLicenses) { $arguments += '--accept-licenses' }
    if ($Cpu) { $arguments += '--cpu' }
}
if ($DryRun) { $arguments += '--dry-run' }

& $python @arguments
$code = $LASTEXITCODE
if ($code -ne 0) { exit $code }
if (-not $Uninstall -and -not $DryRun) {
    Write-Host ""
    Say "ready. Start OBS, then Tools > Scripts > + > $(Join-Path $Repo 'obs_matting.py'), and add the filter to your camera source."
}
exit 0
