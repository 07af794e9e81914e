# WalshipTAP.pm - loaded into every PostgreSQL recovery TAP test by
# test/pg_recovery/run (perl -MWalshipTAP): PostgreSQL::Test::Cluster's
# enable_archiving and enable_restoring write walship-push and walship-fetch
# commands instead of cp.  Each node that archives gets its own file://
# repository, next to its base directory (BASEDIR.walship), so that it
# outlives the node: the test framework deletes a node's base directory at
# the end while other nodes may still restore from its archive.  A node
# restores from its root node's repository.
#
# Needs WS_TAP_BINDIR: the directory holding walship-push and walship-fetch.
package WalshipTAP;

use strict;
use warnings;

my @repos;

# Defined before PostgreSQL::Test::Cluster is loaded, so it runs after the
# framework's END block has stopped (and, when all passed, removed) the
# nodes: the repositories go too, unless the test failed.
END
{
	my $keep = $? != 0 || defined $ENV{PG_TEST_NOCLEAN};
	$keep ||= !PostgreSQL::Test::Utils::all_tests_passing()
	  if defined &PostgreSQL::Test::Utils::all_tests_passing;
	File::Path::rmtree($_) for ($keep ? () : @repos);
}

use File::Path ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils ();

my $bindir = $ENV{WS_TAP_BINDIR} or die "WS_TAP_BINDIR is not set\n";
my $push   = "$bindir/walship-push";
my $fetch  = "$bindir/walship-fetch";
-x $push && -x $fetch or die "no walship-push or walship-fetch in $bindir\n";

sub repo_dir
{
	my ($node) = @_;
	return $node->basedir . '.walship';
}

# A walship configuration file in the node's base directory.
sub write_config
{
	my ($node, $label, $repo_dir) = @_;
	my $path = $node->basedir . "/walship-$label.conf";
	open my $fh, '>', $path or die "could not write $path: $!\n";
	print $fh "repo = file://$repo_dir\n";
	close $fh or die "could not write $path: $!\n";
	return $path;
}

no warnings 'redefine';

*PostgreSQL::Test::Cluster::enable_archiving = sub {
	my ($self) = @_;
	my $repo = repo_dir($self);

	# walship never creates a missing repository root.
	if (!-d $repo)
	{
		mkdir $repo or die "could not create $repo: $!\n";
		push @repos, $repo;
	}
	my $conf = write_config($self, 'archive', $repo);
	print "### Enabling WAL archiving with walship-push for node \""
	  . $self->name . "\"\n";
	$self->append_conf(
		'postgresql.conf', qq(
archive_mode = on
archive_command = '"$push" --config "$conf" "%p"'
));
	return;
};

*PostgreSQL::Test::Cluster::enable_restoring = sub {
	my ($self, $root_node, $standby) = @_;
	my $conf = write_config($self, 'restore', repo_dir($root_node));

	print "### Enabling WAL restore with walship-fetch for node \""
	  . $self->name . "\"\n";
	$self->append_conf(
		$self->_recovery_file, qq(
restore_command = '"$fetch" --config "$conf" "%f" "%p"'
));
	if ($standby)
	{
		$self->set_standby_mode();
	}
	else
	{
		$self->set_recovery_mode();
	}
	return;
};

1;
